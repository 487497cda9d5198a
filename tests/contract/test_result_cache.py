"""``barrier`` leaves the results on the client, and every legacy answer of ``get_task_result`` holds.

Run against the in-process controller and a real TLS cluster. Whether a
result came from the client's cache is seen in the requests the client
sends (``sent``), never in timings.
"""

import numpy as np
import pytest

from kernel.client import MapTask, StringTask, TaskClient, TaskResult
from kernel.client.resultcache import ENTRY_BYTES, ResultCache
from kernel.wire import messages, serialize
from tests.harness import Hold, make_backend


@pytest.fixture(scope="module", params=["inprocess", "process"])
def backend(request, tmp_path_factory):
    made = make_backend(request.param, tmp_path_factory.mktemp(f"cache-{request.param}"), engines=2)
    yield made
    made.stop()


@pytest.fixture
def tc(backend):
    return backend.client()


@pytest.fixture
def sized(backend, monkeypatch):
    """A client whose cache holds ``limit`` bytes, set as a user would: KERNEL_CLIENT_RESULT_CACHE."""
    def make(limit):
        monkeypatch.setenv("KERNEL_CLIENT_RESULT_CACHE", str(limit))
        return backend.client()

    return make


@pytest.fixture
def hold(backend, tmp_path):
    made = Hold(backend, tmp_path / "hold")
    yield made
    made.release()


def sent(monkeypatch, tc):
    """The ops of the requests ``tc`` sends from now on, in order."""
    ops = []
    request = tc._connection.request

    def recorded(header, buffers=()):
        ops.append(header["op"])
        return request(header, buffers)

    monkeypatch.setattr(tc._connection, "request", recorded)
    return ops


def double(x):
    return 2 * x


def fail(x):
    raise ValueError(f"no {x}")


def test_after_a_barrier_each_result_is_read_without_a_request(tc, monkeypatch):
    ids = [tc.run(MapTask(double, (i,))) for i in range(30)]
    ids += [tc.run(StringTask("b = a + 1", push={"a": 41}, pull="b")), tc.run(MapTask(fail, (7,))),
            tc.run(StringTask("1/0"))]
    tc.barrier(ids)
    ops = sent(monkeypatch, tc)
    assert [tc.get_task_result(t) for t in ids[:30]] == [2 * i for i in range(30)]
    tr = tc.get_task_result(ids[30])
    assert isinstance(tr, TaskResult) and tr.ns.b == 42 and tr.taskid == ids[30] and tr.failure is None
    with pytest.raises(ValueError, match="no 7"):
        tc.get_task_result(ids[31])
    assert isinstance(tc.get_task_result(ids[32]).failure, ZeroDivisionError)
    assert ops == []


def test_a_cached_result_is_handed_out_once_then_asked_for_again(tc, monkeypatch):
    taskid = tc.run(MapTask(np.arange, (10_000,)))  # out of band: the array wraps the received buffer
    tc.barrier([taskid])
    ops = sent(monkeypatch, tc)
    first = tc.get_task_result(taskid)
    first[:] = -1
    assert ops == []
    again = tc.get_task_result(taskid)
    assert ops == ["get_results"] and list(again[:3]) == [0, 1, 2]  # its own copy, from the controller
    failed = tc.run(MapTask(fail, (3,)))
    tc.barrier([failed])
    for _ in range(2):
        with pytest.raises(ValueError, match="no 3"):
            tc.get_task_result(failed)


def test_clear_drops_the_cached_copies_and_they_never_come_back(tc, monkeypatch):
    ids = [tc.run(MapTask(double, (i,))) for i in range(4)]
    tc.barrier(ids)
    assert tc.clear(ids[:2]) == 2
    for taskid in ids[:2]:
        with pytest.raises(IndexError, match="cleared"):
            tc.get_task_result(taskid)
    tc.barrier(ids)  # a barrier after the clear fetches nothing of what is gone
    with pytest.raises(IndexError, match="cleared"):
        tc.get_task_result(ids[0])
    ops = sent(monkeypatch, tc)
    assert tc.get_task_result(ids[2]) == 4 and ops == []
    assert tc.clear() >= 1
    with pytest.raises(IndexError, match="cleared"):
        tc.get_task_result(ids[3])


def test_ids_the_controller_never_gave_out_and_unfinished_tasks_keep_their_answers(tc, hold):
    done = tc.run(MapTask(double, (5,)))
    held = tc.run(hold.task("a = 3", pull="a"))
    tc.barrier([done, done + 100_000])  # the unknown id is not waited for, and its batch not fetched
    assert tc.get_task_result(done) == 10  # fetched on demand
    with pytest.raises(IndexError, match="not registered"):
        tc.get_task_result(done + 100_000)
    assert tc.get_task_result(held, block=False) is None
    hold.release()
    tc.barrier([held])
    assert tc.get_task_result(held).ns.a == 3


def test_another_client_reads_the_results_a_barrier_fetched(backend, tc):
    ids = [tc.run(MapTask(double, (i,))) for i in range(5)]
    tc.barrier(ids)
    other = backend.client()
    assert [other.get_task_result(t) for t in ids] == [0, 2, 4, 6, 8]  # still with the controller
    assert [tc.get_task_result(t) for t in ids] == [0, 2, 4, 6, 8]
    other.barrier(ids)
    assert [other.get_task_result(t) for t in ids] == [0, 2, 4, 6, 8]


def test_the_cache_holds_at_most_its_setting_and_the_rest_are_fetched(sized, monkeypatch):
    cost = ResultCache.cost(serialize.dumps(np.full(5000, 0)))  # what each result below counts for
    tc = sized(3 * cost + ENTRY_BYTES // 2)  # room for three
    ids = [tc.run(MapTask(np.full, (5000, i))) for i in range(8)]
    tc.barrier(ids)
    ops = sent(monkeypatch, tc)
    assert [int(tc.get_task_result(t)[0]) for t in ids] == list(range(8))
    assert ops == ["get_results"] * 5  # the first 3 were kept, not the last ones
    ops.clear()
    tc.barrier(ids[:3])
    tc.barrier(ids[3:5])  # evicts the oldest two of the first barrier's
    assert [int(tc.get_task_result(t)[0]) for t in ids[:5]] == list(range(5))
    assert ops == ["barrier", "get_results", "barrier", "get_results", "get_results", "get_results"]


def test_a_cache_of_zero_bytes_fetches_nothing_after_a_barrier(sized, monkeypatch):
    tc = sized(0)
    ids = [tc.run(MapTask(double, (i,))) for i in range(3)]
    ops = sent(monkeypatch, tc)
    tc.barrier(ids)
    assert [tc.get_task_result(t) for t in ids] == [0, 2, 4]
    assert ops == ["barrier"] + ["get_results"] * 3


def test_a_closed_client_keeps_no_results(backend):
    tc = backend.client()
    ids = [tc.run(MapTask(double, (i,))) for i in range(3)]
    tc.barrier(ids)
    tc.close()
    assert len(tc._cache) == 0 and tc._cache.size == 0


def test_a_bad_cache_size_is_named(backend):
    with pytest.raises(ValueError, match="result_cache must be 0 .off. or a size.*'lots'"):
        TaskClient._over(backend.client()._connection, result_cache="lots")


def test_get_results_with_max_bytes_answers_up_to_the_result_that_reaches_them(tc):
    ids = [tc.run(MapTask(np.zeros, (1000 * (i + 1),))) for i in range(4)]
    tc.barrier(ids)

    def get_results(**options):
        header, buffers = tc._connection.call(messages.GetResults.header(taskids=ids, **options))
        return header["value"], buffers

    entries, buffers = get_results()
    size, at = [], 0
    for entry in entries:
        size.append(sum(len(b) for b in buffers[at:at + entry["n"]]))
        at += entry["n"]
    for max_bytes, answered in ((1, 1), (size[0], 1), (size[0] + 1, 2), (sum(size[:3]), 3),
                                (sum(size[:3]) + 1, 4), (10**9, 4)):
        entries, buffers = get_results(max_bytes=max_bytes)
        assert [entry["taskid"] for entry in entries] == ids[:answered], max_bytes
        assert len(buffers) == sum(entry["n"] for entry in entries)


def test_a_map_tasks_entry_leaves_out_the_timestamps_and_keeps_the_rest(tc):
    """A client makes only a value of a map task's result: four floats a task are not sent."""
    ids = [tc.run(MapTask(double, (1,))), tc.run(MapTask(fail, (2,))), tc.run(StringTask("y = 1", pull="y"))]
    tc.barrier(ids)
    entries = tc._connection.call(messages.GetResults.header(taskids=ids))[0]["value"]
    times = {"submitted", "started", "finished", "completed"}
    assert [times & entry.keys() for entry in entries] == [set(), set(), times]
    assert [entry["status"] for entry in entries] == ["succeeded", "failed", "succeeded"]
    assert entries[1]["error"]["etype"] == "ValueError" and entries[1]["engineid"] is not None
    assert all(None not in (r["submitted"], r["started"], r["completed"]) for r in tc.timeline(ids))
