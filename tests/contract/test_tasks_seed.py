"""The task examples of the seed documents (the 0.10 task chapter, the legacy
docs/examples/kernel scripts, the 0.11 dependencies and schedulers chapter),
in their Python 3 form, on the in-process controller and on a TLS cluster."""

import sys
import time

import pytest

from kernel import client
from kernel.client import (
    Dependency,
    DependencyTimeout,
    ImpossibleDependency,
    MapTask,
    StringTask,
    TaskAborted,
    TaskRejectError,
    depend,
    dependent,
    require,
)
from tests.harness import Hold, make_backend


@pytest.fixture(scope="module", params=["inprocess", "process"])
def seeds(request, tmp_path_factory):
    backend = make_backend(request.param, tmp_path_factory.mktemp(f"seeds-{request.param}"), engines=4)
    yield backend
    backend.stop()


@pytest.fixture
def tc(seeds):
    seeds.ensure_engines(4)
    seeds.reset()
    return seeds.tc


# -- the 0.10 task chapter ---------------------------------------------------------------------


def test_quickstart_task_farming(tc):
    tasklist = []
    for n in range(100):
        tasklist.append(client.StringTask("a = %i" % n, pull="a"))
    taskids = [tc.run(t) for t in tasklist]
    tc.barrier(taskids)
    task_results = [tc.get_task_result(taskid) for taskid in taskids]
    tr = task_results[73]
    assert repr(tr) == f"TaskResult[ID:{taskids[73]}]:{{'a': 73}}"
    assert tr.engineid in range(4)
    submitted, completed, duration = tr.submitted, tr.completed, tr.duration
    assert len(submitted) == len("2008/03/08 03:41:42") and completed >= submitted and duration >= 0
    assert tr.results["a"] == 73 and tr.ns.a == 73


def test_the_task_client_methods_of_the_chapter(tc, seeds, tmp_path):
    hold = Hold(seeds, tmp_path / "hold")
    try:
        my_tasks = [hold.task() for _ in range(10)] + [StringTask("a = 1")]
        task_ids = [tc.run(task) for task in my_tasks]
        assert tc.get_task_result(task_ids[-1]) is None
        status = tc.queue_status()
        assert set(status) == {"scheduled", "pending", "succeeded", "failed"}
        assert status["pending"] + status["scheduled"] == 11
        verbose = tc.queue_status(verbose=True)
        assert task_ids[-1] in verbose["scheduled"]
        tc.abort(task_ids[-1])
        with pytest.raises(IndexError, match="Task Already Completed"):
            tc.abort(task_ids[-1])
        tc.spin()
    finally:
        hold.release()
    tc.barrier(task_ids)
    results = [tc.get_task_result(tid) for tid in task_ids]
    assert isinstance(results[-1].failure, TaskAborted)
    assert all(r.failure is None for r in results[:-1])


def test_the_task_object_push_pull_and_cleaning(tc):
    t = client.StringTask("a = str(id)", pull=["a", "id"])
    tr = tc.run(t, block=True)
    assert tr.ns.a == str(tr.ns.id) == str(tr.engineid)
    t = client.StringTask("a = f(submitted)", push=dict(submitted=time.time(), f=lambda s: s > 0), pull="a")
    assert tc.run(t, block=True).ns.a is True
    t = client.StringTask("a = list(range(10))", pull="a", clear_after=True)
    assert tc.run(t, block=True).ns.a == list(range(10))
    t = client.StringTask("a = sorted(k for k in globals() if not k.startswith('__'))", pull="a",
                          clear_before=True)
    assert tc.run(t, block=True).ns.a == ["id", "mpi"]  # a fresh namespace


def test_parallel_map_and_function_decorator(tc):
    serial_result = list(map(lambda x: x ** 10, range(32)))
    parallel_result = tc.map(lambda x: x ** 10, range(32))
    assert serial_result == parallel_result

    @tc.parallel()
    def f(x):
        return 10.0 * x ** 4

    assert f(range(32))[:3] == [0.0, 10.0, 160.0]


def test_fault_tolerance_retries_and_recovery_task(tc):
    t = client.StringTask("import random\nassert random.random() < 2", retries=2)
    assert tc.run(t, block=True).failure is None
    t = client.StringTask("raise ValueError('no')", retries=1,
                          recovery_task=client.StringTask("fallback = 1", pull="fallback"))
    assert tc.run(t, block=True).ns.fallback == 1


def test_dependencies_on_engine_properties(tc, seeds):
    seeds.set_properties({"RAM": 2 ** 33}, targets=[2])
    seeds.execute("def bigfunc():\n    return id", targets=[2])

    def dep(properties):
        return properties["RAM"] > 2 ** 32  # have at least 4GB

    t = client.StringTask("a = bigfunc()", depend=dep, pull="a")
    assert tc.run(t, block=True).ns.a == 2


# -- docs/examples/kernel --------------------------------------------------------------------


def test_helloworld(tc):
    hello = client.StringTask("import time; time.sleep(0.01); word = 'Hello,'", pull=("word",))
    world = client.StringTask("import time; time.sleep(0.01); word = 'World!'", pull=("word",))
    hello_id, world_id = tc.run(hello), tc.run(world)
    words = [tc.get_task_result(t, block=True).ns.word for t in (hello_id, world_id)]
    assert " ".join(words) == "Hello, World!"


def test_task1(tc, seeds):
    seeds.execute("d = 30")
    cmd = """
a = 5
b = 10*d
c = a*b*d
"""
    t1 = client.StringTask(cmd, clear_before=False, clear_after=True, pull=["a", "b", "c"])
    tr = tc.run(t1, block=True)
    assert tr.results == {"a": 5, "b": 300, "c": 45000}


def test_task2_queue_status_and_abort(tc, seeds, tmp_path):
    hold = Hold(seeds, tmp_path / "hold")
    try:
        taskids = [tc.run(hold.task()) for _ in range(24)]
        status = tc.queue_status(True)
        assert len(status["scheduled"]) >= 24 - 8
        for taskid in status["scheduled"][-4:]:
            tc.abort(taskid)
        assert len(tc.queue_status(True)["scheduled"]) == len(status["scheduled"]) - 4
    finally:
        hold.release()
    tc.barrier(taskids)
    aborted = [t for t in taskids if tc.get_task_result(t).failure is not None]
    assert aborted == status["scheduled"][-4:]


def test_taskmap(tc):
    def task(x):
        return x * x

    assert tc.map(task, range(8)) == [x * x for x in range(8)]
    m = tc.mapper(block=False, clear_after=True, clear_before=True)
    tids = m.map(task, range(8))
    tc.barrier(tids)
    assert [tc.get_task_result(tid) for tid in tids] == [x * x for x in range(8)]

    @tc.parallel()
    def ptask(x):
        return x * x

    assert ptask(range(8)) == [x * x for x in range(8)]


def test_taskreject(tc, seeds):
    seeds.execute("run = False")
    seeds.execute("run = True", targets=[0, 1])

    def map_task():
        if not run:  # noqa: F821 -- the engine's own variable
            raise TaskRejectError("task rejected")
        return id

    taskids = [tc.run(client.MapTask(map_task, retries=20)) for _ in range(6)]
    assert {tc.get_task_result(t, block=True) for t in taskids} <= {0, 1}


def test_mcpricer_style_parameter_sweep(tc, seeds):
    seeds.execute("import math\ndef price(K, sigma):\n    return max(0.0, 100 - K) + sigma, K * sigma")
    tasks = {}
    for K in (90, 100, 110):
        for sigma in (0.1, 0.2):
            tasks[(K, sigma)] = tc.run(client.StringTask("vp, ap = price(K, sigma)", push=dict(K=K, sigma=sigma),
                                                         pull=("vp", "ap")))
    tc.barrier(list(tasks.values()))
    prices = {key: tc.get_task_result(t).results for key, t in tasks.items()}
    assert prices[(90, 0.2)] == {"vp": 10.2, "ap": 18.0}


# -- the 0.11 dependencies chapter --------------------------------------------------------------


def platform_specific(plat):
    import sys

    return sys.platform == plat


def test_functional_dependencies(tc):
    @require("numpy", "json")
    def myfunc():
        return int(numpy.arange(4).sum()), json.dumps([1])  # noqa: F821

    assert tc.run(MapTask(myfunc), block=True) == (6, "[1]")

    @depend(platform_specific, sys.platform)
    def mytask():
        return "ran"

    @depend(platform_specific, "nt" if sys.platform != "nt" else "darwin")
    def elsewhere():
        return "ran"

    assert tc.run(MapTask(mytask), block=True) == "ran"
    with pytest.raises(DependencyTimeout):
        tc.run(MapTask(elsewhere, timeout=0.5), block=True)

    def mytask2(*args):
        return args

    here = dependent(mytask2, platform_specific, sys.platform)
    assert tc.run(MapTask(here, (1, 2)), block=True) == (1, 2)


def test_graph_dependencies(tc):
    def f(x):
        return x

    ar = tc.run(MapTask(f, (1,)))
    ar2 = tc.run(MapTask(f, (2,)))
    ar3 = tc.run(MapTask(f, (3,), after=[ar, ar2]))
    ar4 = tc.run(MapTask(f, (4,), follow=[ar], timeout=2.5))
    assert [tc.get_task_result(t, block=True) for t in (ar, ar2, ar3, ar4)] == [1, 2, 3, 4]
    cleanup = tc.run(StringTask("cleaned = True", after=Dependency([tc.run(StringTask("1/0"))],
                                                                     success=False, failure=True)))
    assert tc.get_task_result(cleanup, block=True).failure is None


def test_impossible_dependencies(tc):
    bad = tc.run(StringTask("1/0"))
    for dep in ([bad + 1000], Dependency([bad]), Dependency([bad, tc.run(StringTask("1/0"))], all=False)):
        with pytest.raises(ImpossibleDependency):
            tc.run(StringTask("a = 1", after=dep), block=True).ns


def test_retries_and_resubmit(tc):
    first = tc.run(MapTask(lambda: id, retries=2))
    tc.barrier(first)
    again = tc.resubmit(first)
    assert again != first and tc.get_task_result(again, block=True) in range(4)
