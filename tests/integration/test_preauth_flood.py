"""One local peer holds 1,100 idle connections to a real controller's client port; others still get in.

The controller's open-file limit is lowered to the common default of 1,024
once it runs (``prlimit``), so without the caps on unauthenticated
connections the peer would take every descriptor: accept() fails, and no
client or engine gets in until the pre-auth timeout, here 5 minutes.
"""

import os
import resource
import select
import socket
import time

import pytest

from kernel import furl, paths
from kernel.client import MultiEngineClient

HOLD = 1100  # the peer's connections
FILES = 1024  # the controller's open-file limit, soft and hard
PER_PEER = 100  # preauth_per_peer (the default)
GRACE = 0.5  # preauth_grace: the caps act after it
LOG_BOUND = 200_000  # bytes of controller log for the whole test
FLOOD_WAIT = 60.0  # for waits on a loaded machine; nothing here is timed


@pytest.fixture
def files_for_the_peer():
    """This process may hold the peer's connections: its soft limit raised for the test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = HOLD + 512
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the hard open-file limit ({hard}) is under the {needed} this test needs")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def controller_files(pid):
    return resource.prlimit(pid, resource.RLIMIT_NOFILE)


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_idle(port, n):
    """``n`` TCP connections to ``port`` that never send a byte."""
    held = []
    for _ in range(n):
        held.append(socket.create_connection(("127.0.0.1", port), timeout=FLOOD_WAIT))
    return held


def wait_until_open(held, n):
    """Wait until the controller has closed all but ``n`` of ``held``; return those still open."""
    poller = select.poll()
    by_fd = {s.fileno(): s for s in held}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + FLOOD_WAIT
    while len(by_fd) > n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the controller still holds {len(by_fd)} of the peer's connections, "
                               f"not {n}, after {FLOOD_WAIT:g} s")
        for fd, _ in poller.poll(left * 1000):
            poller.unregister(fd)
            by_fd.pop(fd)  # readable: the controller's end is closed (it never sends on these)
    return list(by_fd.values())


def test_a_peer_holding_1100_idle_connections_leaves_room_for_clients_and_engines(cluster_factory,
                                                                                  files_for_the_peer):
    c = cluster_factory("flood", controller_args=["--preauth-grace", str(GRACE), "--preauth-timeout", "300"])
    c.start_controller()
    pid = c.controller.pid
    try:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (FILES, FILES))
    except PermissionError:
        pytest.skip("this process may not lower the controller's open-file limit")
    port = furl.load(c.mec_furl).hints[-1][1]
    start, cpu_start = time.monotonic(), cpu_seconds(pid)
    held = open_idle(port, HOLD)
    try:
        still = wait_until_open(held, PER_PEER)
        c.start_engines(2)
        for i in range(20):
            mec = MultiEngineClient(c.mec_furl)
            try:
                mec.execute(f"x = {i}")
                assert mec.pull("x") == [i, i]
            finally:
                mec.close()
        assert wait_until_open(still, PER_PEER) == still  # held all along: nobody had to give way
        cpu = cpu_seconds(pid) - cpu_start
        assert cpu < 0.5 * (time.monotonic() - start), f"the controller used {cpu:.1f} s of CPU"
    finally:
        for sock in held:
            sock.close()
    log = paths.log_dir(c.dir) / f"ipcontroller-{pid}.log"
    assert log.stat().st_size < LOG_BOUND


def test_the_controller_raises_its_soft_file_limit_to_the_hard_one(cluster_factory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft <= 256:
        pytest.skip("the soft open-file limit is already low")
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # inherited by the controller
    try:
        c = cluster_factory("limit")
        c.start_controller()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert controller_files(c.controller.pid) == (hard, hard)
