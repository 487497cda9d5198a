"""A controller whose engine port is served by relay processes (``ipcontroller --relays 2``), with real engines.

The contract suites run their process cluster so too (``tests/contract/conftest.py``);
these tests check what is the relays' own: who holds the connections, and what
happens when a relay, an engine or the controller goes.
"""

import signal
import sys

import numpy
import psutil
import pytest

from kernel import client, furl
from kernel.errors import CapabilityRefused
from tests.harness import wait_for
from tests.launchers.helpers import free_port

ENGINES = 20


@pytest.fixture
def relayed(cluster_factory):
    cluster = cluster_factory("relayed", controller_args=["--relays", "2"])
    cluster.start_controller()
    return cluster


def relays_of(cluster, settled=True):
    """The controller's relay processes: two, once ``settled``."""
    processes = []
    for child in psutil.Process(cluster.controller.pid).children():
        try:
            if "kernel.apps.relay" in child.cmdline():
                processes.append(child)
        except psutil.NoSuchProcess:
            pass
    assert len(processes) == 2 or not settled
    return processes


def engine_connections(process, cluster):
    """The established connections ``process`` holds on the engine port."""
    port = furl.load(cluster.engine_furl).hints[0][1]
    return [c for c in process.net_connections("tcp") if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port]


def swarm(cluster, engines=ENGINES):
    cluster.spawn([sys.executable, "-m", "kernel.apps.swarm", "--engines", str(engines), "--ipythondir", str(cluster.dir)],
                  "swarm")
    cluster.wait_for_engines(engines)


def test_the_relays_hold_the_engines_connections_and_a_call_reaches_every_engine(relayed):
    swarm(relayed)
    relays = relays_of(relayed)
    held = [len(engine_connections(r, relayed)) for r in relays]
    assert sum(held) == ENGINES and all(held)  # spread by the kernel: each relay has some
    assert engine_connections(psutil.Process(relayed.controller.pid), relayed) == []
    assert "ipcontroller: 2 relay processes serve the engine port" in relayed.output(relayed.controller)
    mec = relayed.client()
    try:
        mec.execute("import os; pid = os.getpid()")
        assert len(mec.pull("pid")) == ENGINES
        big = numpy.arange(5_000_000, dtype=numpy.float64)  # 40 MB: written a chunk per turn at each hop
        mec.push({"big": big}, targets=[0, ENGINES - 1])
        for back in mec.pull("big", targets=[0, ENGINES - 1]):
            assert numpy.array_equal(back, big)
    finally:
        mec.close()


def test_an_engine_killed_behind_a_relay_is_unregistered(relayed):
    engines = relayed.start_engines(2)
    engines[0].send_signal(signal.SIGKILL)
    relayed.wait_for_engines(1)
    mec = relayed.client()
    try:
        assert mec.execute("1", block=True)[0]["id"] in mec.get_ids()
    finally:
        mec.close()


def test_the_engines_of_a_relay_that_dies_come_back_and_the_relay_starts_again(relayed):
    swarm(relayed)
    mec = relayed.client()
    ids = mec.get_ids()
    first, second = relays_of(relayed)
    lost = len(engine_connections(first, relayed))
    first.kill()
    wait_for(lambda: "and it starts again" in relayed.log(relayed.controller).read_text(),
             what="the relay's end logged")
    wait_for(lambda: first.pid not in [r.pid for r in relays_of(relayed, settled=False)]
             and len(relays_of(relayed, settled=False)) == 2, what="the relay started again")
    wait_for(lambda: sum(len(engine_connections(r, relayed)) for r in relays_of(relayed)) == ENGINES,
             what="the engines reconnected")
    relayed.wait_for_engines(ENGINES)
    try:
        assert lost and mec.get_ids() == ids  # each took its id back
        assert len(mec.execute("pass")) == ENGINES
    finally:
        mec.close()


def test_a_controller_that_stops_stops_its_relays(relayed):
    swarm(relayed, 4)
    relays = relays_of(relayed)
    relayed.controller.send_signal(signal.SIGTERM)
    assert relayed.controller.wait(30) == 0
    gone, alive = psutil.wait_procs(relays, timeout=30)
    assert alive == []


def test_the_relayed_engine_port_refuses_a_forged_swissnum_and_a_client(relayed):
    engine = furl.load(relayed.engine_furl)
    forged = furl.FURL(engine.tubid, engine.hints, furl.new_swissnum())
    with pytest.raises(CapabilityRefused, match="no such capability"):
        client.MultiEngineClient(str(forged))
    with pytest.raises(CapabilityRefused, match="'engine' interface"):
        client.MultiEngineClient(relayed.engine_furl)


def test_a_second_controller_cannot_share_the_engine_port_of_relays(relayed, cluster_factory):
    port = furl.load(relayed.engine_furl).hints[0][1]
    other = cluster_factory("other", controller_args=["--relays", "2", "--engine-port", str(port)])
    with pytest.raises(RuntimeError, match="cannot listen"):
        other.start_controller()


def test_a_controller_killed_and_started_again_on_its_ports_gets_its_engines_back(cluster_factory):
    ports = ["--engine-port", str(free_port()), "--client-port", str(free_port())]
    cluster = cluster_factory("restarted", controller_args=["--relays", "2", *ports])
    cluster.start(engines=2)
    old_relays = relays_of(cluster)
    cluster.kill_controller()  # SIGKILL: its relays see their links close, and go
    gone, alive = psutil.wait_procs(old_relays, timeout=30)
    assert alive == []
    cluster.start_controller()  # the same ports and FURLs
    cluster.wait_for_engines(2)
    mec = cluster.client()
    try:
        assert sorted(mec.pull("id")) == [0, 1]
    finally:
        mec.close()
