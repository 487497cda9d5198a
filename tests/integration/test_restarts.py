"""Engines that die under ipcluster or ``Cluster`` come back, within a limit; stopped ones stay stopped."""

import os
import signal

import pytest

from kernel.client.remote import CompositeError
from kernel.cluster import Cluster
from kernel.errors import EngineDied, KernelError
from tests.harness import wait_for
from tests.launchers.helpers import (  # noqa: F401 (launch is a fixture)
    do_work,
    engine_processes,
    kill_processes_using,
    launch,
    mec_for,
    processes_using,
)


@pytest.fixture
def cleanup(tmp_path):
    yield
    kill_processes_using(tmp_path)


def ids_by_pid(mec):
    mec.execute("import os; pid = os.getpid()")
    return dict(zip(mec.pull("pid"), mec.get_ids()))


def registered_pids(mec):
    """The pids of the engines registered now, asked of the engines themselves; None while one is dying."""
    try:
        mec.execute("import os; pid = os.getpid()")
        return sorted(mec.pull("pid"))
    except (CompositeError, KernelError):
        return None


def test_an_engine_killed_comes_back_fresh_and_the_cluster_keeps_its_size(tmp_path, cleanup):
    with Cluster(n=2, ipythondir=tmp_path / "d") as c:
        mec = c.mec()
        mec.execute("x = 'kept'")
        victim, survivor = c.engines.pids
        victim_id = ids_by_pid(mec)[victim]
        running = mec.execute("import time; time.sleep(60)", targets=[victim_id], block=False)
        os.kill(victim, signal.SIGKILL)
        with pytest.raises(CompositeError) as caught:
            running.get_result()
        assert isinstance(caught.value.elist[0][1], EngineDied)
        wait_for(lambda: victim not in c.engines.pids, what="the engine to be restarted")
        replacement = c.engines.pids[0]
        wait_for(lambda: registered_pids(mec) == sorted([replacement, survivor]), what="the new engine")
        assert len(mec.get_ids()) == 2
        mec.execute("kept = 'x' in dir()")
        assert sorted(mec.pull("kept")) == [False, True]  # the new engine's namespace is fresh
        assert c.supervisor.history == [{"slot": 0, "pid": victim, "returncode": -signal.SIGKILL,
                                         "reason": "was killed by SIGKILL", "restarted": replacement,
                                         "why_not": None}]
    assert processes_using(tmp_path / "d") == []


def test_restarts_stop_at_the_limit(tmp_path, cleanup):
    with Cluster(n=1, ipythondir=tmp_path / "d", restart_limit=2, restart_window=600) as c:
        mec = c.mec()
        for _ in range(3):
            pid = c.engines.pids[0]
            wait_for(lambda: registered_pids(mec) == [pid], what=f"engine {pid} to register")
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: len(c.supervisor.history) == 3 or c.engines.pids[0] != pid,
                     what="the supervisor to see the death")
        last = c.supervisor.history[-1]
        assert [e["restarted"] is not None for e in c.supervisor.history] == [True, True, False]
        assert last["why_not"] == "it was restarted 2 times within 600 s (--restart-limit, --restart-window)"
        wait_for(lambda: mec.get_ids() == [], what="the last engine to be unregistered")


def test_engines_asked_to_stop_are_not_restarted(tmp_path, cleanup):
    with Cluster(n=2, ipythondir=tmp_path / "d") as c:
        mec = c.mec()
        first, second = c.engines.pids
        mec.kill(targets=[ids_by_pid(mec)[first]])
        os.kill(second, signal.SIGTERM)
        wait_for(lambda: len(c.supervisor.history) == 2, what="both engines to exit")
        assert {e["why_not"] for e in c.supervisor.history} == {"it was asked to stop"}
        assert c.engines.pids == [first, second]
        wait_for(lambda: mec.get_ids() == [], what="both engines to be unregistered")


def test_ipcluster_restarts_a_killed_engine_and_says_why(launch, tmp_path):
    d = tmp_path / "d"
    run = launch("-n", "2", "--ipythondir", d, "--restart-window", "30")
    run.wait_ready()
    victim = engine_processes(d)[0][0]
    os.kill(victim, signal.SIGKILL)
    run.wait_for_text(f"engine process {victim} (slot")
    run.wait_for_text("was killed by SIGKILL: restarted as pid")
    mec = mec_for(d)
    wait_for(lambda: (pids := registered_pids(mec)) is not None and len(pids) == 2 and victim not in pids,
             what="the restarted engine to register")
    assert do_work(mec, 2) == [0, 1]
    mec.close()
    run.signal(signal.SIGINT)
    assert run.wait() == 0
    assert processes_using(d) == []
