"""The task interface against real processes only: schemes chosen on the command line,
engines that exit or hang in the middle of a task, and the controller's memory."""

import os
import signal
from pathlib import Path

import pytest

from kernel import client
from kernel.client import PoisonTask, StringTask
from kernel.controller.scheduler import SCHEMES
from tests.harness import HOLD_CODE, wait_for


def hold_task(directory, **options):
    directory.mkdir(exist_ok=True)
    return StringTask(HOLD_CODE, push={"hold_dir": str(directory)}, **options)


def started_on(directory):
    """``[(engine id, pid)]`` of the held attempts so far."""
    return [tuple(int(x) for x in p.name.split("-")[1:3]) for p in Path(directory).glob("started-*")]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_can_be_chosen_with_ipcontroller(cluster_factory, tmp_path, scheme):
    c = cluster_factory(controller_args=["--scheme", scheme])
    c.start_controller()
    c.start_engines(2)
    tc = client.TaskClient(c.tc_furl)
    held = [tc.run(hold_task(tmp_path / "hold")) for _ in range(4)]
    wait_for(lambda: len(started_on(tmp_path / "hold")) == 2, what="a held task on each engine")
    assert sorted(eid for eid, _ in started_on(tmp_path / "hold")) == [0, 1]
    assert tc.queue_status() == {"scheduled": 0, "pending": 4, "succeeded": 0, "failed": 0}
    (tmp_path / "hold" / "release").touch()
    tc.barrier(held)
    assert tc.map(lambda x: x + 1, range(20)) == list(range(1, 21))
    first = tc.run(StringTask("a = id"))
    tr = tc.get_task_result(tc.run(StringTask("b = a", pull="b", follow=[first])), block=True)
    assert tr.ns.b == tr.engineid
    tc.close()


def test_ipcontroller_refuses_an_unknown_scheme(cluster_factory):
    c = cluster_factory()
    with pytest.raises(RuntimeError, match="invalid choice"):
        c.start_controller("--scheme", "fastest")


def _keep_engines_running(c, n, tc, taskid, limit):
    """Restart engines as they die until the task finishes; return how many were started."""
    started = 0
    while tc.get_task_result(taskid) is None:
        wait_for(lambda: tc.get_task_result(taskid) is not None
                 or len([e for e in c.engines if e.poll() is None]) < n,
                 what="the task to finish or an engine to die")
        alive = len([e for e in c.engines if e.poll() is None])
        if alive < n and tc.get_task_result(taskid) is None:
            assert started < limit, "the task went on killing engines"
            c.start_engines(n - alive, wait=False)
            started += n - alive
    return started


def test_a_task_that_exits_every_engine_is_declared_poison(cluster_factory):
    c = cluster_factory()
    c.start_controller()
    c.start_engines(2)
    tc = client.TaskClient(c.tc_furl)
    taskid = tc.run(StringTask("import os\nos._exit(7)", retries=10))
    _keep_engines_running(c, 2, tc, taskid, limit=5)
    tr = tc.get_task_result(taskid)
    assert isinstance(tr.failure, PoisonTask)
    assert "killed 3 engines" in str(tr.failure) and "connection lost" in str(tr.failure)
    # the third engine's socket can close before the process is reaped: wait for it
    wait_for(lambda: sum(1 for e in c.engines if e.poll() == 7) == 3, what="three engines to exit")
    assert sum(1 for e in c.engines if e.poll() == 7) == 3  # and no more
    c.start_engines(2 - len([e for e in c.engines if e.poll() is None]))  # the cluster goes on
    assert tc.run(StringTask("a = 1", pull="a"), block=True).ns.a == 1
    tc.close()


def test_poison_after_is_an_ipcontroller_option(cluster_factory):
    c = cluster_factory(controller_args=["--poison-after", "1"])
    c.start_controller()
    c.start_engines(2)
    tc = client.TaskClient(c.tc_furl)
    tr = tc.run(StringTask("import os\nos._exit(7)", retries=10), block=True)
    assert isinstance(tr.failure, PoisonTask) and "killed 1 engines" in str(tr.failure)
    assert len(client.MultiEngineClient(c.mec_furl).get_ids()) == 1
    tc.close()


def test_a_hung_engine_is_given_up_and_its_task_retried(cluster_factory, tmp_path):
    # fast enough to find the stopped engine in seconds, slow enough never to take a healthy one for dead
    c = cluster_factory(controller_args=["--heartbeat-period", "0.5", "--heartbeat-timeout", "3"])
    c.start_controller()
    c.start_engines(2)
    tc = client.TaskClient(c.tc_furl)
    taskid = tc.run(hold_task(tmp_path / "hold", retries=1))
    wait_for(lambda: started_on(tmp_path / "hold"), what="the task to start")
    [(hung, pid)] = started_on(tmp_path / "hold")
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(lambda: len(started_on(tmp_path / "hold")) == 2, what="the task to be retried")
        (tmp_path / "hold" / "release").touch()
        tr = tc.get_task_result(taskid, block=True)
        assert tr.failure is None and tr.engineid != hung
    finally:
        os.kill(pid, signal.SIGCONT)
    c.wait_for_engines(2)  # it comes back as a fresh engine
    tc.close()


def _rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_the_controllers_memory_does_not_grow_with_finished_tasks(cluster_factory):
    c = cluster_factory()
    c.start_controller()
    c.start_engines(2)
    tc = client.TaskClient(c.tc_furl)
    payload = b"x" * 10_000
    tc.map(len, [payload] * 3_000)
    before = _rss_kb(c.controller.pid)
    assert tc.map(len, [payload] * 6_000) == [10_000] * 6_000  # 60 MB went through
    grown = _rss_kb(c.controller.pid) - before
    print(f"the controller grew by {grown} kB for 6,000 tasks")
    assert grown < 6_000, f"the controller grew by {grown} kB for 6,000 tasks"
    tc.close()
