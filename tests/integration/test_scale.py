"""A thousand engines on one controller: real TLS connections from a few swarm processes.

Each swarm process (``python -m kernel.apps.swarm``) holds 250 engines that
speak the real protocol, each on a connection of its own, to a real
ipcontroller. The figures (how fast, how much CPU) are in bench/README.md;
here, only what must hold at that scale.
"""

import os
import signal
import sys

import pytest

from kernel.client import TaskClient
from tests.harness import wait_for

ENGINES = 1000
PER_SWARM = 250
SCALE_TIMEOUT = 120.0  # for waits on a shared, loaded 2-core machine; nothing here is timed


def start_swarm(cluster, n):
    """A swarm process of ``n`` engines, killed with the cluster."""
    return cluster.spawn([sys.executable, "-m", "kernel.apps.swarm", "--ipythondir", str(cluster.dir),
                          "--engines", str(n)], "swarm")


def registered(mec, n):
    return wait_for(lambda: len(mec.get_ids()) == n, SCALE_TIMEOUT, interval=0.1, what=f"{n} engines registered")


@pytest.fixture
def thousand(cluster_factory):
    # heartbeats of a small cluster (0.5 s, 2 s) scaled at 500 a second: 2 s and 8 s at 1,000 engines
    c = cluster_factory("scale", controller_args=["--heartbeat-period", "0.5", "--heartbeat-timeout", "2",
                                                  "--heartbeat-rate", "500"])
    c.start_controller()
    swarms = [start_swarm(c, PER_SWARM) for _ in range(ENGINES // PER_SWARM)]
    mec = c.client()
    registered(mec, ENGINES)
    yield c, mec, swarms
    mec.close()


def test_a_thousand_engines_register_and_a_broadcast_reaches_each_once(thousand):
    c, mec, _ = thousand
    assert mec.get_ids() == list(range(ENGINES))
    results = mec.execute("x = id * 2")
    assert [r["id"] for r in results] == list(range(ENGINES))
    assert mec.pull("x") == [2 * i for i in range(ENGINES)]
    mec.scatter("part", list(range(3 * ENGINES)))
    assert mec.gather("part") == list(range(3 * ENGINES))


def test_a_map_over_a_thousand_engines_loses_no_task(thousand):
    c, _, _ = thousand
    tc = TaskClient(c.tc_furl)
    try:
        assert tc.map(lambda x: x * x, range(20 * ENGINES)) == [x * x for x in range(20 * ENGINES)]
    finally:
        tc.close()


def test_engines_that_die_or_hang_among_a_thousand_are_unregistered(thousand):
    c, mec, swarms = thousand
    killed, stopped = swarms[:2]
    killed.kill()  # its connections close: noticed at once
    registered(mec, ENGINES - PER_SWARM)
    os.kill(stopped.pid, signal.SIGSTOP)  # its connections stay open but silent: the heartbeat timeout
    try:
        registered(mec, ENGINES - 2 * PER_SWARM)
        assert len(mec.execute("pass")) == ENGINES - 2 * PER_SWARM  # the rest go on
    finally:
        os.kill(stopped.pid, signal.SIGCONT)
    registered(mec, ENGINES - PER_SWARM)  # its engines find their connections gone and register again
