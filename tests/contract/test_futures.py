"""Futures, ``await`` and executors over both clients, on both clusters (in-process and TLS processes).

Held calls wait for a release file, so a test decides when they finish;
nothing waits on time.
"""

import asyncio
import concurrent.futures
import itertools
import threading

import pytest

from kernel import client, errors
from kernel.client.remote import RemoteTraceback
from tests.harness import wait_for

HOLD = ("import os as _os, time as _time\n"
        "while not _os.path.exists({release!r}):\n"
        "    _time.sleep(0.002)\n")


def held(path):
    """Code that runs until ``path`` exists."""
    return HOLD.format(release=str(path))


def wait_for_file(path):
    """A task function that returns once ``path`` exists (its argument)."""
    import os
    import time

    while not os.path.exists(path):
        time.sleep(0.002)
    return "released"


@pytest.fixture
def tc(backend, mec):
    tc = client.TaskClient(backend.tc_furl)
    yield tc
    tc.close()


# -- PendingResult as a Future ----------------------------------------------------------------


def test_a_pending_result_is_a_future_with_what_get_result_gives(mec):
    pr = mec.execute("a = id", block=False)
    assert isinstance(pr, concurrent.futures.Future)
    results = pr.result(timeout=30)
    assert [r["id"] for r in results] == [0, 1, 2, 3]
    assert pr.done() and not pr.running() and pr.exception() is None
    assert pr.get_result() is results and pr.r is results
    assert pr.cancel() is False  # the engines have it


def test_legacy_calls_never_start_the_reader_and_futures_stop_it(mec):
    prs = [mec.execute("a = 1", block=False), mec.pull("id", block=False)]
    mec.barrier(prs)
    assert prs[1].get_result(block=False) == [0, 1, 2, 3] and mec.pull("a") == [1] * 4
    assert mec._connection._reader is None  # legacy calls read the socket themselves
    assert mec.pull("id", block=False).result(30) == [0, 1, 2, 3]
    reader = mec._connection._reader
    wait_for(lambda: reader.thread is None, what="the reader thread to end with its last future")


def test_legacy_callbacks_apply_to_the_future_result_too(mec):
    pr = mec.pull("id", block=False)
    pr.add_callback(lambda values, k: [v + k for v in values], 10)
    assert pr.result(30) == [10, 11, 12, 13]
    assert pr.get_result() == [10, 11, 12, 13]
    assert mec.zip_pull(("id", "id"), block=False).result(30) == [(0, 1, 2, 3), (0, 1, 2, 3)]


def test_errors_come_as_the_future_exception(mec):
    pr = mec.execute("1/0", targets=[1, 2], block=False)
    error = pr.exception(30)
    assert isinstance(error, client.CompositeError)
    assert [e.engine_info["engineid"] for _, e, _ in error.elist] == [1, 2]
    with pytest.raises(client.CompositeError):
        pr.result()
    with pytest.raises(client.CompositeError):
        pr.r


def test_done_callbacks_run_once_the_reply_is_in(mec, tmp_path):
    release = tmp_path / "release"
    pr = mec.execute(held(release), targets=0, block=False)
    called = threading.Event()
    seen = []
    pr.add_done_callback(lambda f: (seen.append(f.result()[0]["id"]), called.set()))
    assert not pr.done()
    release.touch()
    assert called.wait(30)
    assert seen == [0]


def test_concurrent_futures_wait_and_as_completed_take_them(mec, tmp_path):
    release = tmp_path / "release"
    slow = mec.execute(held(release), targets=0, block=False)
    quick = [mec.pull("id", targets=t, block=False) for t in (1, 2, 3)]
    finished = list(itertools.islice(concurrent.futures.as_completed([slow, *quick], timeout=30), 3))
    assert sorted(f.result() for f in finished) == [[1], [2], [3]]
    done, not_done = concurrent.futures.wait([slow, *quick], timeout=0)
    assert not_done == {slow}
    release.touch()
    done, not_done = concurrent.futures.wait([slow, *quick], timeout=30)
    assert not not_done


def test_blocking_calls_work_while_a_future_is_pending(mec, tmp_path):
    release = tmp_path / "release"
    pr = mec.execute(held(release), targets=0, block=False)
    assert not pr.done()  # armed: the reader thread reads from now on
    assert mec.pull("id", targets=[1, 2, 3]) == [1, 2, 3]
    mec.push(dict(b=5), targets=3)
    assert mec.pull("b", targets=3) == [5]
    mec.execute("c = 1", targets=1)
    assert mec.get_result(targets=1)[0]["input"]["raw"] == "c = 1"
    release.touch()
    assert pr.result(30)[0]["id"] == 0
    assert mec.pull("id") == [0, 1, 2, 3]


def test_flush_fails_futures_not_yet_answered(mec, tmp_path):
    release = tmp_path / "release"
    pr = mec.execute(held(release), targets=0, block=False)
    assert not pr.done()
    mec.flush()
    with pytest.raises(client.InvalidDeferredID):
        pr.result(30)
    release.touch()
    assert mec.pull("id", targets=0) == [0]


def test_await_in_a_running_loop_returns_what_get_result_would(mec, tmp_path):
    release = tmp_path / "release"

    async def main():
        waiting = asyncio.ensure_future(mec.execute(held(release), targets=1, block=False))
        await asyncio.sleep(0)  # the loop runs on while the engine holds
        assert not waiting.done()
        release.touch()
        results = await waiting
        pulled = await mec.pull("id", block=False)
        return results, pulled

    results, pulled = asyncio.run(main())
    assert results[0]["id"] == 1 and isinstance(results, client.ResultList)
    assert pulled == [0, 1, 2, 3]


# -- task futures ------------------------------------------------------------------------------


def test_submit_gives_the_value(tc):
    future = tc.submit(pow, 2, 10)
    assert isinstance(future, concurrent.futures.Future)
    assert future.result(30) == 1024
    assert tc.submit(sorted, [3, 1, 2], reverse=True).result(30) == [3, 2, 1]
    assert future.taskid in tc.queue_status(verbose=True)["succeeded"]


def test_a_failed_task_raises_its_own_exception_with_the_remote_traceback(tc):
    def inner(x):
        return {}[x]

    future = tc.submit(inner, "missing")
    error = future.exception(30)
    assert isinstance(error, KeyError)
    assert isinstance(error.__cause__, RemoteTraceback)
    assert "inner" in str(error.__cause__) and "KeyError" in str(error.__cause__)
    with pytest.raises(KeyError):
        future.result()


def test_future_of_any_task_id(tc, backend):
    string_id = tc.run(client.StringTask("a = 6 * 7", pull="a"))
    map_id = tc.run(client.MapTask(abs, (-3,)))
    assert tc.future(string_id).result(30).ns.a == 42  # a StringTask's TaskResult
    assert tc.future(map_id).result(30) == 3
    other = client.TaskClient(tc._connection.source)
    try:
        assert other.future(map_id).result(30) == 3  # another client's task
    finally:
        other.close()
    with pytest.raises(errors.NoSuchTask):
        tc.future(10 ** 9).result(30)
    with pytest.raises(TypeError):
        tc.future("1")


def test_as_completed_yields_in_finishing_order(tc, tmp_path):
    release = tmp_path / "release"
    slow = tc.submit(wait_for_file, str(release))
    quick = [tc.submit(abs, -i) for i in range(3)]
    first = list(itertools.islice(tc.as_completed([slow, *quick], timeout=30), 3))
    assert sorted(f.result() for f in first) == [0, 1, 2]
    release.touch()
    assert [f.result() for f in tc.as_completed([slow.taskid], timeout=30)] == ["released"]


def test_await_a_task_future(tc):
    async def main():
        return await asyncio.gather(tc.submit(abs, -5), tc.future(tc.run(client.MapTask(abs, (-6,)))))

    assert asyncio.run(main()) == [5, 6]


def test_cancel_aborts_a_task_not_finished_and_not_a_finished_one(tc, mec, tmp_path):
    release = tmp_path / "release"
    busy = mec.execute(held(release), block=False)  # no engine can finish a task meanwhile
    queued = tc.submit(abs, -1)
    assert queued.cancel() is True, queued.exception(0)
    assert queued.cancelled()
    with pytest.raises(concurrent.futures.CancelledError):
        queued.result(0)
    release.touch()
    busy.r
    finished = tc.submit(abs, -2)
    assert finished.result(30) == 2
    assert finished.cancel() is False
    with pytest.raises(client.TaskAborted):
        tc.get_task_result(queued.taskid, block=True)


def test_legacy_task_calls_work_while_futures_are_pending(tc, tmp_path):
    release = tmp_path / "release"
    pending = tc.submit(wait_for_file, str(release))
    taskid = tc.run(client.MapTask(abs, (-7,)))
    assert tc.get_task_result(taskid, block=True) == 7
    tc.barrier([taskid])
    assert tc.map(abs, [-1, -2]) == [1, 2]
    release.touch()
    assert pending.result(30) == "released"


# -- executors --------------------------------------------------------------------------------


def test_the_task_executor(tc, tmp_path):
    with tc.executor(retries=1) as executor:
        assert isinstance(executor, concurrent.futures.Executor)
        assert executor.submit(divmod, 7, 2).result(30) == (3, 1)
        assert list(executor.map(pow, range(5), itertools.repeat(2))) == [0, 1, 4, 9, 16]
        assert list(executor.map(abs, range(-10, 0), chunksize=3)) == list(range(10, 0, -1))
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(abs, 1)
    with pytest.raises(ValueError, match="chunksize"):
        tc.executor().map(abs, [1], chunksize=0)


def test_executor_map_is_lazy_with_a_buffer_and_times_out(tc, tmp_path):
    executor = tc.executor()
    squares = executor.map(lambda x: x * x, itertools.count(), buffersize=4)  # endless input
    assert list(itertools.islice(squares, 10)) == [x * x for x in range(10)]
    release = tmp_path / "release"
    results = executor.map(wait_for_file, [str(release)], timeout=0.2)
    with pytest.raises(TimeoutError):
        next(results)
    release.touch()
    executor.shutdown(wait=True)


def test_shutdown_can_cancel_what_has_not_finished(tc, mec, tmp_path):
    release = tmp_path / "release"
    executor = tc.executor()
    busy = mec.execute(held(release), block=False)
    queued = [executor.submit(abs, -i) for i in range(3)]
    executor.shutdown(wait=False, cancel_futures=True)
    assert all(f.cancelled() for f in queued)
    release.touch()
    busy.r
    executor.shutdown(wait=True)


def test_executors_take_calls_from_many_threads_at_once(tc, mec):
    for executor in (tc.executor(), mec.executor()):
        with executor, concurrent.futures.ThreadPoolExecutor(8) as callers:
            futures = list(callers.map(lambda i: executor.submit(divmod, i, 7), range(200)))
            assert [f.result(30) for f in futures] == [divmod(i, 7) for i in range(200)]


def test_the_multiengine_executor_runs_on_the_chosen_engines_only(mec):
    with mec.executor(targets=[1, 3]) as executor:
        assert sorted(set(executor.map(lambda _: id, range(12)))) == [1, 3]  # the engine's own id
        assert executor.submit(divmod, 9, 4).result(30) == (2, 1)
        assert executor.submit(sorted, [1, 2], reverse=True).result(30) == [2, 1]
        error = executor.submit(lambda: 1 / 0).exception(30)
    assert isinstance(error, ZeroDivisionError)  # the engine's exception, not a CompositeError
    assert isinstance(error.__cause__, RemoteTraceback)
    assert mec.executor().targets == [0, 1, 2, 3]
