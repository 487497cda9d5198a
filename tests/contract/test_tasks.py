"""The task interface contract, run against the in-process controller and a real TLS cluster.

Every test gets ``tb``: a cluster with engines 0, 1 and 2 whose namespaces
and properties were just reset and no task left over. ``hold`` makes tasks
that keep an engine busy until released (released at the end of the test in
any case). Task ids are never reused by one controller, so tests compare ids
with ids they got, never with fixed numbers.
"""

import math
import re
import sqlite3
import sys

import pytest

from kernel import client, errors
from kernel.client import (
    Dependency,
    DependencyTimeout,
    EngineDied,
    ImpossibleDependency,
    MapTask,
    PoisonTask,
    StringTask,
    TaskAborted,
    TaskRejectError,
    TaskResult,
    UnmetDependency,
    depend,
    dependent,
    require,
)
from kernel.wire import messages
from tests.harness import Hold, World, make_backend

N = 3  # engines
STAMP = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d$")


@pytest.fixture(scope="module", params=["inprocess", "process"])
def cluster3(request, tmp_path_factory):
    backend = make_backend(request.param, tmp_path_factory.mktemp(f"tasks-{request.param}"), engines=N)
    yield backend
    backend.stop()


@pytest.fixture
def tb(cluster3):
    cluster3.ensure_engines(N)
    cluster3.reset()
    cluster3.holds = []
    yield cluster3
    for h in cluster3.holds:
        h.release()
    tc = cluster3.tc
    status = tc.queue_status(True)
    for taskid in status["scheduled"] + status["pending"]:
        try:
            tc.abort(taskid)
        except IndexError:
            pass
    if cluster3.ids():
        cluster3.idle()


@pytest.fixture
def hold(tb, tmp_path):
    made = Hold(tb, tmp_path / "hold")
    tb.holds.append(made)
    return made


@pytest.fixture
def tc(tb):
    return tb.tc


def pin(tb):
    """Give each engine a property ``eid`` equal to its id, so ``depend`` can choose one."""
    for eid in tb.ids():
        tb.set_properties({"eid": eid}, targets=[eid])


def on(eid):
    return lambda properties: properties.get("eid") == eid


# -- run, ids and results ----------------------------------------------------------------


def test_run_returns_sequential_int_ids_never_reused(tb, tc):
    ids = [tc.run(StringTask("a = 1")) for _ in range(4)]
    assert all(type(t) is int for t in ids)
    assert ids == list(range(ids[0], ids[0] + 4))  # one client's ids follow each other
    other = tb.client()
    theirs = [other.run(StringTask("a = 2")) for _ in range(40)]  # past its first lease
    assert not set(theirs) & set(ids) and theirs == sorted(theirs)
    tc.barrier(ids)
    assert tc.clear() >= 4
    assert tc.run(StringTask("a = 3")) == ids[-1] + 1  # not even clear() resets them
    assert tc.resubmit(ids[0]) > max(theirs)


def test_a_task_sent_without_waiting_is_stored_before_the_next_call_answers(tb, tc):
    taskid = tc.run(StringTask("b = 6 * 7", pull="b"))
    assert tc.queue_status()["pending"] + tc.queue_status()["succeeded"] >= 1
    assert tc.get_task_result(taskid, block=True).ns.b == 42


def test_an_id_that_was_leased_but_never_used_is_waited_for_then_unknown(tb, tc):
    first = tc.run(StringTask("pass"))
    with pytest.raises(IndexError, match=f"task {first + 1} was leased by a client but not submitted within"):
        tb.client().get_task_result(first + 1)  # leased to tc, not used yet


def test_another_client_asking_about_a_leased_id_waits_for_its_task(tb, tc):
    first = tc.run(StringTask("pass"))
    other = tb.client()
    rid = other._connection.request(messages.GetResults.header(taskids=[first + 1], block=True))
    assert tc.run(StringTask("b = 7", pull="b")) == first + 1  # it comes after the question
    reply, out = other._connection.wait(rid)
    assert reply["value"][0]["status"] == "succeeded"


def test_run_sets_the_task_id_on_the_task(tc):
    task = StringTask("a = 1")
    taskid = tc.run(task)
    assert task.taskid == taskid


def test_run_block_true_returns_the_result(tc):
    tr = tc.run(StringTask("b = 42", pull="b"), block=True)
    assert isinstance(tr, TaskResult) and tr.ns.b == 42
    assert tc.run(MapTask(lambda x: 2 * x, (10,)), block=True) == 20


def test_run_refuses_what_is_not_a_task(tc):
    with pytest.raises(TypeError, match="StringTask or MapTask"):
        tc.run("a = 1")


def test_get_task_result_is_none_until_the_task_finishes(tc, hold):
    taskid = tc.run(hold.task("a = 5", pull="a"))
    assert tc.get_task_result(taskid) is None
    assert tc.get_task_result(taskid, block=False) is None
    hold.release()
    assert tc.get_task_result(taskid, block=True).ns.a == 5
    assert tc.get_task_result(taskid).ns.a == 5  # kept: asked again, answered again


def test_get_task_result_of_an_unknown_or_non_int_id(tc):
    last = tc.run(StringTask("a = 1"))
    with pytest.raises(IndexError, match="not registered"):
        tc.get_task_result(last + 1000)
    with pytest.raises(IndexError):
        tc.get_task_result(-1)
    for bad in ("0", 1.0, True, None):
        with pytest.raises(TypeError):
            tc.get_task_result(bad)


def test_barrier_waits_for_every_task_and_never_raises(tc):
    ids = [tc.run(StringTask("1/0")), tc.run(MapTask(lambda: [][1])), tc.run(StringTask("a = 1"))]
    assert tc.barrier(ids) is None
    assert isinstance(tc.get_task_result(ids[0]).failure, ZeroDivisionError)
    assert tc.get_task_result(ids[2]).failure is None
    assert tc.barrier(ids[2]) is None  # one id
    assert tc.barrier([]) is None
    assert tc.barrier([ids[-1] + 10_000]) is None  # unknown ids are not waited for
    with pytest.raises(TypeError):
        tc.barrier("1")


def test_barrier_blocks_until_the_last_task_finishes(tc, hold, tb):
    done = tc.run(StringTask("a = 1"))
    held = tc.run(hold.task())
    tc.barrier(done)
    rid = tc._connection.request(messages.Barrier.header(taskids=[done, held]))
    tb.settle()
    assert not tc._connection.ready(rid)
    hold.release()
    reply, _ = tc._connection.wait(rid)
    assert reply["value"] is None
    assert tc.get_task_result(held) is not None


def test_queue_status_counts_every_kind_of_task(tc, hold):
    before = tc.queue_status()
    assert set(before) == {"scheduled", "pending", "succeeded", "failed"}
    assert before["scheduled"] == before["pending"] == 0
    finished = [tc.run(StringTask("a = 1")), tc.run(MapTask(lambda: 1)),
                tc.run(StringTask("1/0")), tc.run(MapTask(lambda: 1 / 0))]
    tc.barrier(finished)
    held = [tc.run(hold.task()) for _ in range(2 * N + 2)]
    status = tc.queue_status()
    assert status["succeeded"] == before["succeeded"] + 2
    assert status["failed"] == before["failed"] + 2
    assert status["scheduled"] + status["pending"] == len(held)
    assert N <= status["pending"] <= 2 * N and status["scheduled"] >= 2
    verbose = tc.queue_status(verbose=True)
    assert sorted(verbose["pending"] + verbose["scheduled"]) == held
    assert max(verbose["pending"]) < min(verbose["scheduled"])  # first in, first out
    assert set(finished[:2]) <= set(verbose["succeeded"])
    assert set(finished[2:]) <= set(verbose["failed"])
    assert verbose["waiting"] == {}  # they wait for a free engine, not for a dependency
    hold.release()
    tc.barrier(held)
    after = tc.queue_status()
    assert after["succeeded"] == before["succeeded"] + 2 + len(held)
    assert after["scheduled"] == after["pending"] == 0


def test_abort_a_scheduled_task_removes_it(tc, hold):
    held = [tc.run(hold.task()) for _ in range(2 * N + 1)]
    waiting = tc.queue_status(True)["scheduled"][-1]
    assert tc.abort(waiting) is None
    tr = tc.get_task_result(waiting)  # at once: it is finished, as aborted
    assert isinstance(tr.failure, TaskAborted)
    status = tc.queue_status(True)
    assert waiting not in status["scheduled"] and waiting in status["failed"]
    with pytest.raises(IndexError, match="Already Completed"):
        tc.abort(waiting)
    hold.release()
    tc.barrier(held)
    assert len(hold.attempts()) == len(held) - 1  # the aborted one never ran


def test_abort_a_running_task_makes_its_result_task_aborted(tc, hold):
    running = tc.run(hold.task("a = 1", pull="a"))
    mapped = tc.run(MapTask(math.sqrt, (4,), depend=lambda p: False))
    hold.wait_new_attempt()
    tc.abort(running)
    tr = tc.get_task_result(running)
    assert isinstance(tr.failure, TaskAborted) and tr.results == {}
    with pytest.raises(TaskAborted):
        tr.ns
    with pytest.raises(IndexError, match="Already Aborted"):
        tc.abort(running)
    tc.abort(mapped)
    with pytest.raises(TaskAborted):
        tc.get_task_result(mapped)
    hold.release()
    assert isinstance(tc.get_task_result(running, block=True).failure, TaskAborted)
    tc.barrier(tc.run(StringTask("a = 1")))  # the engine is free again


def test_abort_errors(tc):
    finished = tc.run(StringTask("a = 1"))
    tc.barrier(finished)
    with pytest.raises(IndexError, match="Already Completed"):
        tc.abort(finished)
    with pytest.raises(IndexError, match="No task"):
        tc.abort(finished + 1000)
    for bad in ("asdfadsf", 1.5, None):
        with pytest.raises(TypeError, match="integer task id"):
            tc.abort(bad)


def test_spin_runs_the_scheduler_and_says_whether_it_started_a_task(tc):
    assert tc.spin() is False


def test_clear_drops_finished_results(tc, hold):
    first, second = tc.run(StringTask("a = 1")), tc.run(StringTask("a = 2"))
    held = tc.run(hold.task("a = 3", pull="a"))
    tc.barrier([first, second])
    assert tc.clear(first) == 1
    with pytest.raises(IndexError):
        tc.get_task_result(first)
    assert tc.get_task_result(second).failure is None
    assert tc.clear([held]) == 0  # unfinished: nothing to drop
    with pytest.raises(IndexError):
        tc.clear([held + 1000])
    assert tc.clear() >= 1
    with pytest.raises(IndexError):
        tc.get_task_result(second, block=True)
    hold.release()
    assert tc.get_task_result(held, block=True).ns.a == 3


def test_resubmit_runs_a_finished_task_again_under_a_new_id(tc, hold):
    first = tc.run(StringTask("b = a * 2", push={"a": 21}, pull="b"))
    tc.barrier(first)
    again = tc.resubmit(first)
    assert type(again) is int and again > first
    assert tc.get_task_result(again, block=True).ns.b == 42
    failed = tc.run(MapTask(lambda: 1 / 0))
    tc.barrier(failed)
    with pytest.raises(ZeroDivisionError):
        tc.get_task_result(tc.resubmit(failed), block=True)
    held = tc.run(hold.task())
    with pytest.raises(IndexError, match="not finished"):
        tc.resubmit(held)
    with pytest.raises(IndexError):
        tc.resubmit(held + 1000)
    with pytest.raises(TypeError):
        tc.resubmit("1")


def test_task_status_is_a_tasks_record(tc, hold):
    held = tc.run(hold.task())
    after = tc.run(StringTask("a = 1", after=[held]))
    record = tc.task_status(after)
    assert record["state"] == "scheduled"
    assert str(held) in record["waiting"]
    assert tc.queue_status(True)["waiting"][after] == record["waiting"]
    assert tc.task_status(held)["state"] == "pending"
    hold.release()
    tc.barrier(after)
    record = tc.task_status(after)
    assert record["state"] == "succeeded" and record["engineid"] in range(N) and record["waiting"] is None
    with pytest.raises(IndexError):
        tc.task_status(after + 1000)


# -- map and parallel -------------------------------------------------------------------


def test_map_is_in_order(tc):
    assert tc.map(lambda x: x ** 10, range(32)) == [x ** 10 for x in range(32)]
    assert tc.map(lambda x, y: x - y, [5, 6, 7], (1, 1, 1)) == [4, 5, 6]
    assert tc.map(lambda x: x, []) == []


def test_map_raises_the_first_failure(tc):
    def f(x):
        if x == 2:
            raise KeyError("two")
        if x == 4:
            raise ValueError("four")
        return x

    with pytest.raises(KeyError, match="two") as info:
        tc.map(f, range(6))
    assert "raise KeyError" in info.value.traceback_text


def test_map_checks_its_arguments(tc):
    with pytest.raises(ValueError, match="equal length"):
        tc.map(lambda x, y: x, [1, 2], [1])
    with pytest.raises(TypeError):
        tc.map(42, [1, 2])
    with pytest.raises(TypeError):
        tc.map(abs)
    with pytest.raises(ValueError, match="chunksize"):
        tc.map(abs, [1], chunksize=0)


def test_map_with_chunksize_sends_one_task_per_chunk(tc):
    assert tc.map(lambda x: -x, range(10), chunksize=3) == [-x for x in range(10)]
    ids = tc.mapper(block=False).map(lambda x: -x, range(10), chunksize=3)
    assert len(ids) == 4
    assert [tc.get_task_result(t, block=True) for t in ids] == [[0, -1, -2], [-3, -4, -5], [-6, -7, -8], [-9]]


def test_mapper_block_false_returns_task_ids(tc):
    mapper = tc.mapper(block=False, clear_before=True, clear_after=True)
    assert (mapper.block, mapper.clear_before, mapper.clear_after) == (False, True, True)
    ids = mapper.map(lambda x: 2 * x, range(10))
    assert ids == list(range(ids[0], ids[0] + 10))
    tc.barrier(ids)
    assert [tc.get_task_result(t) for t in ids] == [2 * x for x in range(10)]


def test_mapper_defaults_are_the_legacy_ones(tc):
    m = tc.mapper()
    assert (m.clear_before, m.clear_after, m.retries, m.recovery_task, m.depend, m.block) == (
        False, False, 0, None, None, True)


def test_mapper_options_reach_the_tasks(tc, tmp_path):
    def fails_once(x, d=str(tmp_path)):
        import pathlib

        marker = pathlib.Path(d) / f"item-{x}"
        if not marker.exists():
            marker.touch()
            raise RuntimeError("first attempt")
        return x

    assert tc.mapper(retries=1).map(fails_once, range(5)) == list(range(5))
    with pytest.raises(RuntimeError, match="first attempt"):
        tc.mapper(retries=0).map(fails_once, range(5, 7))


def test_mapper_depend_chooses_the_engines(tc, tb):
    pin(tb)
    assert tc.mapper(depend=on(1)).map(lambda x: id, range(4)) == [1, 1, 1, 1]


def test_parallel_decorator(tc):
    @tc.parallel()
    def f(x):
        return 10.0 * x ** 4

    assert f(range(32)) == [10.0 * x ** 4 for x in range(32)]
    assert f.map(range(4)) == [0.0, 10.0, 160.0, 810.0]
    ids = tc.parallel(block=False)(lambda x: x)(range(3))
    assert len(ids) == 3 and all(type(t) is int for t in ids)


# -- StringTask, MapTask and TaskResult -----------------------------------------------------


def test_string_task_result_attributes(tc):
    taskid = tc.run(StringTask("a = 5\nb = id", pull=["a", "b"]))
    tr = tc.get_task_result(taskid, block=True)
    assert (tr.ns.a, tr["a"], tr.failure, tr.raise_exception()) == (5, 5, None, None)
    assert tr.results == {"a": 5, "b": tr.engineid} and tr.keys == ["a", "b"]
    assert tr.engineid in range(N) and tr.taskid == taskid
    assert STAMP.match(tr.submitted) and STAMP.match(tr.completed)
    assert tr.submitted <= tr.completed
    assert isinstance(tr.duration, float) and 0 <= tr.duration < 30
    assert tr.ns["a"] == 5
    with pytest.raises(AttributeError):
        tr.ns = 1


def test_task_result_repr_is_the_legacy_one(tc):
    taskid = tc.run(StringTask("b = 42", pull="b"))
    assert repr(tc.get_task_result(taskid, block=True)) == f"TaskResult[ID:{taskid}]:{{'b': 42}}"
    failed = tc.run(StringTask("", pull="never_set"))  # on any engine, whichever ran the first
    assert repr(tc.get_task_result(failed, block=True)).startswith(f"TaskResult[ID:{failed}]:NameError")


def test_failed_string_task_keeps_the_remote_exception(tc):
    tr = tc.run(StringTask("def g():\n    return 1/0\ndef f():\n    return g()\nf()", pull="a"), block=True)
    assert isinstance(tr.failure, ZeroDivisionError) and tr.results == {}
    assert "division by zero" in str(tr.failure)
    text = tr.failure.traceback_text
    assert text.count('File "<string>"') >= 3 and "in g" in text and "in f" in text
    assert tr.failure.engine_info["engineid"] == tr.engineid
    for access in (lambda: tr.ns, lambda: tr["a"], tr.raise_exception):
        with pytest.raises(ZeroDivisionError):
            access()


def test_string_task_push_and_pull(tc):
    tr = tc.run(StringTask("", push=dict(a=1, b=0), pull=["a", "b"]), block=True)
    assert {"a": tr.ns.a, "b": tr["b"]} == {"a": 1, "b": 0}
    with pytest.raises(SyntaxError):
        tc.run(StringTask("7=5"), block=True).ns
    with pytest.raises(NameError):
        tc.run(StringTask("", pull="b"), block=True).ns


def test_map_task_returns_the_value(tc):
    assert tc.run(MapTask(lambda x: 2 * x, (10,)), block=True) == 20
    assert tc.run(MapTask(lambda: 20), block=True) == 20
    assert tc.run(MapTask(lambda x: x, (), {"x": 20}), block=True) == 20
    assert tc.run(MapTask(lambda x, y=10: x + y, [1]), block=True) == 11  # defaults are kept
    assert tc.run(MapTask(divmod, (7, 2)), block=True) == (3, 1)


class Custom(Exception):
    pass


def test_map_task_raises_the_remote_exception_with_type_message_and_traceback(tc):
    def inner():
        raise Custom("it went wrong")

    def outer():
        inner()

    taskid = tc.run(MapTask(outer))
    with pytest.raises(Custom, match="it went wrong") as info:
        tc.get_task_result(taskid, block=True)
    exc = info.value
    assert "in inner" in exc.traceback_text and "in outer" in exc.traceback_text
    assert exc.taskid == taskid and exc.engine_info["engineid"] in range(N)
    with pytest.raises(ZeroDivisionError):
        tc.run(MapTask(lambda x: 1 / 0, (10,)), block=True)


def test_map_task_sees_the_engine_namespace_for_names_it_lacks(tc, tb):
    tb.execute("shared_value = 7")
    assert tc.run(MapTask(lambda: shared_value + id - id), block=True) == 7  # noqa: F821
    assert tc.run(MapTask(lambda: id), block=True) in range(N)
    local = 3
    assert tc.run(MapTask(lambda: local + shared_value), block=True) == 10  # noqa: F821


def test_unpicklable_results_fail_with_type_error(tc):
    tr = tc.run(StringTask("import threading\nlock = threading.Lock()", pull="lock"), block=True)
    assert isinstance(tr.failure, TypeError)
    with pytest.raises(TypeError):
        tc.run(MapTask(lambda: __import__("threading").Lock()), block=True)


# -- clear_before and clear_after --------------------------------------------------------------


def test_clear_before_runs_the_task_in_an_empty_namespace(tc, tb):
    tb.execute("b = 1")
    tr = tc.run(StringTask("a = 1", clear_before=True, pull="b"), block=True)
    assert isinstance(tr.failure, NameError)
    assert tc.run(StringTask("c = id", clear_before=True, pull="c"), block=True).ns.c in range(N)


def test_clear_after_empties_the_namespace_even_when_the_task_failed(tc):
    for code in ("a = 1", "a = 1; 1/0"):
        first = tc.run(StringTask(code, clear_after=True))
        check = tc.run(StringTask("present = 'a' in globals()", pull="present", follow=Dependency(
            [first], success=True, failure=True)))
        assert tc.get_task_result(check, block=True).ns.present is False
    kept = tc.run(StringTask("a = 1"))
    check = tc.run(StringTask("present = 'a' in globals()", pull="present", follow=[kept]))
    assert tc.get_task_result(check, block=True).ns.present is True


# -- fault tolerance: retries and recovery ------------------------------------------------------


ATTEMPT = """\
import pathlib
_tries = pathlib.Path(d)
n = len(list(_tries.glob("try-*")))
(_tries / f"try-{n}-{id}").touch()
"""


def attempts(path):
    return sorted((int(p.name.split("-")[1]), int(p.name.split("-")[2])) for p in path.glob("try-*"))


def test_retries_rerun_a_failed_task_on_another_engine(tc, tmp_path):
    tr = tc.run(StringTask(ATTEMPT + "assert n >= 1", push={"d": str(tmp_path)}, retries=1), block=True)
    assert tr.failure is None
    (_, first), (_, second) = attempts(tmp_path)
    assert second == tr.engineid != first


def test_retries_run_out_then_the_task_fails(tc, tmp_path):
    tr = tc.run(StringTask(ATTEMPT + "assert False, 'always'", push={"d": str(tmp_path)}, retries=2),
                block=True)
    assert isinstance(tr.failure, AssertionError) and "always" in str(tr.failure)
    tries = attempts(tmp_path)
    assert len(tries) == 3
    assert sorted(eid for _, eid in tries) == [0, 1, 2]  # each engine once: others are preferred


def test_retries_on_one_engine_count_attempts(tc, tb):
    """Legacy fact: i += 1 with retries=10 fails 11 times; a second identical task then succeeds."""
    pin(tb)
    tb.execute("i = 0", targets=[0])
    tr = tc.run(StringTask("i += 1\nassert i == 16", pull="i", retries=10, depend=on(0)), block=True)
    assert isinstance(tr.failure, AssertionError)
    tr = tc.run(StringTask("i += 1\nassert i == 16", pull="i", retries=10, depend=on(0)), block=True)
    assert tr.ns.i == 16


def test_recovery_task_runs_under_the_same_id(tc):
    taskid = tc.run(StringTask("raise Exception", recovery_task=StringTask("i = 16", pull="i"), retries=2))
    tr = tc.get_task_result(taskid, block=True)
    assert tr.ns.i == 16 and tr.taskid == taskid


def test_recovery_chain_goes_on_until_one_succeeds(tc):
    last = MapTask(lambda: "third")
    chain = StringTask("1/0", recovery_task=MapTask(lambda: [][0], recovery_task=last))
    assert tc.run(chain, block=True) == "third"  # the result is that of the task that ran last
    failing = StringTask("1/0", recovery_task=StringTask("[][0]"))
    assert isinstance(tc.run(failing, block=True).failure, IndexError)


def test_recovery_chain_loops_are_refused_at_run(tc):
    a = StringTask("1/0")
    b = StringTask("1/0", recovery_task=a)
    a.recovery_task = b
    before = tc.run(StringTask("x = 1"))
    with pytest.raises(ValueError, match="loops"):
        tc.run(a)
    assert tc.run(StringTask("x = 1")) == before + 1  # nothing was submitted


# -- engines that die ----------------------------------------------------------------------------


def test_engine_killed_mid_task_with_retries_is_retried_elsewhere(tc, hold):
    taskid = tc.run(hold.task("pid = __import__('os').getpid()", pull="pid", retries=1))
    killed = hold.kill_running()
    hold.release()
    tr = tc.get_task_result(taskid, block=True)
    assert tr.failure is None and tr.engineid != killed
    assert len(hold.attempts()) == 2


def test_engine_killed_mid_task_without_retries_fails_the_task(tc, hold):
    taskid = tc.run(hold.task())
    mapped = tc.run(MapTask(lambda: 1, follow=[taskid]))
    killed = hold.kill_running()
    tr = tc.get_task_result(taskid, block=True)
    assert isinstance(tr.failure, EngineDied) and tr.engineid == killed
    assert f"engine {killed} died while running task {taskid}" in str(tr.failure)
    with pytest.raises(ImpossibleDependency):  # it was to follow a task that never finished well
        tc.get_task_result(mapped, block=True)


def test_map_task_on_a_killed_engine_raises_engine_died(tc, hold):
    def held(d):
        import os
        import pathlib
        import time

        (pathlib.Path(d) / f"started-{id}-{os.getpid()}-{time.time_ns()}").touch()
        while not (pathlib.Path(d) / "release").exists():
            time.sleep(0.002)

    taskid = tc.run(MapTask(held, (str(hold.dir),)))
    killed = hold.kill_running()
    with pytest.raises(EngineDied, match=f"engine {killed} died"):
        tc.get_task_result(taskid, block=True)


def test_a_task_that_kills_three_engines_is_poison(tc, hold, tb):
    taskid = tc.run(hold.task(retries=10))
    killed = [hold.kill_running() for _ in range(3)]
    tr = tc.get_task_result(taskid, block=True)
    assert isinstance(tr.failure, PoisonTask)
    assert "killed 3 engines" in str(tr.failure)
    assert all(str(eid) in str(tr.failure) for eid in killed)
    tb.ensure_engines(N)
    assert tc.run(StringTask("a = 1", pull="a"), block=True).ns.a == 1  # the cluster goes on


# -- dependencies: depend (engine properties) -----------------------------------------------


def test_depend_runs_the_task_only_where_it_holds(tc, tb):
    tb.set_properties({"color": "red"}, targets=[1])
    tr = tc.run(StringTask("c = id", pull="c", depend=lambda p: p.get("color") == "red"), block=True)
    assert tr.ns.c == 1 == tr.engineid


def test_depend_that_raises_counts_as_false(tc):
    tr = tc.run(StringTask("a = 1", depend=lambda p: p["no such property"], timeout=0.5), block=True)
    assert isinstance(tr.failure, DependencyTimeout)
    assert "declined" in str(tr.failure)


def test_properties_set_later_count_at_once(tc, tb):
    taskid = tc.run(StringTask("c = id", pull="c", depend=lambda p: p.get("ready") is True))
    tb.run_until(lambda: "declined by 0, 1, 2" in (tc.task_status(taskid)["waiting"] or ""),
                 what="every engine to decline the task")
    assert "waiting for a dependency" in tc.queue_status(True)["waiting"][taskid]
    assert tc.get_task_result(taskid) is None
    tb.set_properties({"ready": True}, targets=[2])
    assert tc.get_task_result(taskid, block=True).ns.c == 2  # no spin() needed


def test_deleted_and_cleared_properties_count_at_once(tc, tb):
    tb.set_properties({"busy": True})

    def free(p):
        return "busy" not in p

    def declined_everywhere():
        taskid = tc.run(StringTask("c = id", pull="c", depend=free))
        tb.run_until(lambda: "declined by 0, 1, 2" in (tc.task_status(taskid)["waiting"] or ""),
                     what="every engine to decline the task")
        return taskid

    taskid = declined_everywhere()
    tb.del_properties(["busy"], targets=[1])
    assert tc.get_task_result(taskid, block=True).ns.c == 1
    tb.set_properties({"busy": True}, targets=[1])
    taskid = declined_everywhere()
    tb.clear_properties(targets=[0])
    assert tc.get_task_result(taskid, block=True).ns.c == 0


# -- dependencies: after, follow, Dependency, timeout ----------------------------------------


def test_after_waits_for_the_prerequisites(tc, hold):
    first = tc.run(hold.task())
    second = tc.run(StringTask("a = 1", after=[first]))
    assert tc.task_status(second)["state"] == "scheduled"
    assert f"waiting for tasks [{first}]" in tc.task_status(second)["waiting"]
    hold.release()
    one, two = tc.get_task_result(first, block=True), tc.get_task_result(second, block=True)
    assert two.failure is None and two.start >= one.stop


def test_follow_runs_where_the_prerequisite_ran(tc):
    for _ in range(4):
        first = tc.run(StringTask("a = 1"))
        second = tc.run(StringTask("b = a", pull="b", follow=first))
        one, two = tc.get_task_result(first, block=True), tc.get_task_result(second, block=True)
        assert two.ns.b == 1 and two.engineid == one.engineid


def test_dependency_any_success_and_failure_switches(tc):
    ok, bad, bad2 = tc.run(StringTask("a = 1")), tc.run(StringTask("1/0")), tc.run(StringTask("1/0"))
    tc.barrier([ok, bad, bad2])

    def outcome(dep):
        return tc.run(StringTask("a = 1", after=dep), block=True).failure

    assert outcome(Dependency([ok, bad], all=False)) is None
    assert isinstance(outcome(Dependency([bad, bad2], all=False)), ImpossibleDependency)
    assert outcome(Dependency([bad], success=False, failure=True)) is None  # a clean-up task
    assert isinstance(outcome(Dependency([ok], success=False, failure=True)), ImpossibleDependency)
    assert outcome(Dependency([ok, bad], success=True, failure=True)) is None
    assert isinstance(outcome(Dependency([ok, bad])), ImpossibleDependency)  # all, successes only


def test_impossible_dependencies_fail_at_once(tc, tb):
    last = tc.run(StringTask("a = 1"))
    unknown = tc.run(StringTask("a = 1", after=[last + 10_000]), block=True)
    assert isinstance(unknown.failure, ImpossibleDependency) and "unknown" in str(unknown.failure)
    failed = tc.run(StringTask("1/0"))
    after_failed = tc.run(StringTask("a = 1", after=[failed]), block=True)
    assert isinstance(after_failed.failure, ImpossibleDependency)
    assert isinstance(after_failed.failure, UnmetDependency)  # ImpossibleDependency is an UnmetDependency
    pin(tb)
    on0, on1 = tc.run(StringTask("a = 1", depend=on(0))), tc.run(StringTask("a = 1", depend=on(1)))
    split = tc.run(StringTask("a = 1", follow=[on0, on1]), block=True)
    assert isinstance(split.failure, ImpossibleDependency) and "different engines" in str(split.failure)
    either = tc.run(StringTask("b = id", pull="b", follow=Dependency([on0, on1], all=False)), block=True)
    assert either.ns.b in (0, 1)
    with pytest.raises(ImpossibleDependency):
        tc.run(MapTask(abs, (1,), after=[last + 10_000]), block=True)


def test_timeout_fails_a_task_whose_dependencies_are_not_met_in_time(tc, hold):
    held = tc.run(hold.task())
    late = tc.run(StringTask("a = 1", after=[held], timeout=0.5))
    tr = tc.get_task_result(late, block=True)
    assert isinstance(tr.failure, DependencyTimeout)
    assert "timed out after 0.5 s" in str(tr.failure) and str(held) in str(tr.failure)
    assert tc.get_task_result(held) is None  # the prerequisite is still running
    in_time = tc.run(StringTask("a = 1", timeout=30))
    assert tc.get_task_result(in_time, block=True).failure is None


# -- functional dependencies: UnmetDependency, @require, @depend -------------------------------


def test_unmet_dependency_sends_the_task_to_another_engine_never_twice(tc, tmp_path):
    def only_on_2(d, error):
        import pathlib

        (pathlib.Path(d) / f"try-{id}-{len(list(pathlib.Path(d).iterdir()))}").touch()
        if id != 2:
            raise error("not here")
        return id

    for error, where in ((UnmetDependency, tmp_path / "unmet"), (TaskRejectError, tmp_path / "reject")):
        where.mkdir()
        assert tc.run(MapTask(only_on_2, (str(where), error)), block=True) == 2
        tried = sorted(int(p.name.split("-")[1]) for p in where.iterdir())
        assert tried[-1] == 2 and len(tried) == len(set(tried))  # no engine twice


def test_a_task_every_engine_rejects_waits_then_times_out(tc):
    def nowhere():
        raise UnmetDependency("not on this engine")

    taskid = tc.run(MapTask(nowhere, timeout=2))
    with pytest.raises(DependencyTimeout, match="unmet on 0, 1, 2"):
        tc.get_task_result(taskid, block=True)


# -- rejection: rounds of refusals, each costing a retry --------------------------------------


def ready_here():
    if not ready:  # noqa: F821 (set on the engines)
        raise TaskRejectError("not ready")
    return id


def wait_until_every_engine_refused(tc, tb, taskid):
    tb.run_until(lambda: "no retries left" in (tc.task_status(taskid)["waiting"] or ""),
                 what="every engine to refuse the task")


def test_a_task_every_engine_rejects_fails_naming_them_when_no_retries_are_left(tc, tb):
    tb.execute("ready = False")
    with pytest.raises(TaskRejectError) as caught:
        tc.run(MapTask(ready_here), block=True)
    assert isinstance(caught.value, UnmetDependency) and not isinstance(caught.value, ImpossibleDependency)
    assert re.fullmatch(r"task \d+ was refused by every engine in 1 round \(unmet on 0, 1, 2\) "
                        r"and has no retries left; engine [012] said: not ready", str(caught.value))


def test_each_round_of_refusals_costs_a_retry(tc, tmp_path):
    def rejected_three_times(d):
        import pathlib

        tries = len(list(pathlib.Path(d).iterdir()))
        (pathlib.Path(d) / f"try-{tries}-{id}").touch()
        if tries < 3:
            raise TaskRejectError(f"try {tries}")
        return id

    def engines_tried(d):
        return [int(p.name.split("-")[2]) for p in sorted(d.iterdir(), key=lambda p: int(p.name.split("-")[1]))]

    once, twice = tmp_path / "once", tmp_path / "twice"
    once.mkdir(), twice.mkdir()
    assert tc.run(MapTask(rejected_three_times, (str(twice),), retries=1), block=True) in range(N)
    tried = engines_tried(twice)
    assert sorted(tried[:3]) == [0, 1, 2] and len(tried) == 4  # every engine once, then round 2
    with pytest.raises(TaskRejectError, match="in 1 round .* said: try 2"):
        tc.run(MapTask(rejected_three_times, (str(once),)), block=True)
    assert sorted(engines_tried(once)) == [0, 1, 2]


def test_spin_and_property_changes_give_a_refused_task_another_round(tc, tb):
    tb.execute("ready = False")
    taskid = tc.run(MapTask(ready_here, timeout=600))  # a timeout: it waits, with no retries left
    wait_until_every_engine_refused(tc, tb, taskid)
    assert tc.task_status(taskid)["rounds"] == 1
    tb.execute("ready = True", targets=[1])
    tc.spin()
    assert tc.get_task_result(taskid, block=True) == 1
    tb.execute("ready = False", targets=[1])
    taskid = tc.run(MapTask(ready_here, timeout=600))
    wait_until_every_engine_refused(tc, tb, taskid)
    tb.execute("ready = True", targets=[2])
    tb.set_properties({"ready": True}, targets=[2])
    assert tc.get_task_result(taskid, block=True) == 2


def test_retries_do_not_help_impossible_graph_dependencies(tc):
    failed = tc.run(StringTask("1/0"))
    tr = tc.run(StringTask("a = 1", after=[failed], retries=5), block=True)
    assert isinstance(tr.failure, ImpossibleDependency) and "can never run" in str(tr.failure)


def test_require_runs_where_the_modules_import_and_imports_them(tc):
    @require("colorsys", "xml.dom")
    def hue():
        return colorsys.rgb_to_hsv(1, 0, 0)[0], xml.dom.__name__  # noqa: F821

    assert tc.run(MapTask(hue), block=True) == (0.0, "xml.dom")
    assert tc.map(hue, []) == []

    @require("kernel_no_such_module")
    def never():
        return 1

    with pytest.raises(DependencyTimeout):
        tc.run(MapTask(never, timeout=0.5), block=True)


def platform_specific(plat):
    import sys

    return sys.platform == plat


def test_depend_decorator_and_dependent(tc, tb):
    @depend(platform_specific, sys.platform)
    def here():
        return "ran"

    @depend(platform_specific, "no-such-platform")
    def nowhere():
        return "ran"

    assert tc.run(MapTask(here), block=True) == "ran"
    with pytest.raises(DependencyTimeout):
        tc.run(MapTask(nowhere, timeout=0.5), block=True)

    def which(*args):
        return id

    def engine_is(eid):
        return id == eid

    assert tc.run(MapTask(dependent(which, engine_is, 2)), block=True) == 2
    assert tc.map(dependent(which, engine_is, 1), range(3)) == [1, 1, 1]


# -- waiting for engines, disconnecting clients, where results live ---------------------------


def test_tasks_wait_for_an_engine_when_none_is_registered(cluster3, tmp_path):
    empty = make_backend(cluster3.name, tmp_path / "empty", engines=0)
    try:
        taskid = empty.tc.run(StringTask("b = id", pull="b"))
        assert empty.tc.get_task_result(taskid) is None
        assert empty.tc.task_status(taskid)["waiting"] == "waiting for an engine"
        assert empty.tc.queue_status()["scheduled"] == 1
        empty.ensure_engines(1)
        assert empty.tc.get_task_result(taskid, block=True).ns.b == 0
    finally:
        empty.stop()


def test_a_client_that_disconnects_while_waiting_does_not_hurt(tc, tb, hold):
    held = tc.run(hold.task("a = 2", pull="a"))
    other = tb.client()
    other._connection.request(messages.GetResults.header(taskids=[held], block=True))
    other._connection.request(messages.Barrier.header(taskids=[held]))
    other.close()
    assert tc.queue_status()["pending"] == 1
    if isinstance(tb, World):
        tb.run_until(lambda: all(not w.cancelled for ws in tb.controller.waiters.values() for w in ws)
                     and not tb.controller.waiters, what="the closed session's waits to go")
    hold.release()
    assert tc.get_task_result(held, block=True).ns.a == 2
    assert tc.run(StringTask("b = 3", pull="b"), block=True).ns.b == 3


def test_finished_results_live_in_sqlite(tc, tb):
    taskid = tc.run(StringTask("a = 'stored'", pull="a"))
    tc.barrier(taskid)

    def stored():
        db = sqlite3.connect(str(tb.db_path))
        try:
            return db.execute("SELECT meta FROM results WHERE taskid = ?", (taskid,)).fetchone()
        finally:
            db.close()

    tb.run_until(stored, what="the result to be written to the database")
    assert '"status": "succeeded"' in stored()[0]
    tc.clear(taskid)
    assert stored() is None


def test_errors_of_the_cluster_itself_are_kernel_errors(tc):
    taskid = tc.run(StringTask("a = 1", after=[tc.run(StringTask("1/0"))]))
    failure = tc.get_task_result(taskid, block=True).failure
    assert isinstance(failure, client.ImpossibleDependency) and isinstance(failure, errors.TaskError)
    assert failure.taskid == taskid and failure.traceback_text == ""
