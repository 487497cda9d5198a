"""The multiengine contract: pending results, barrier, flush, queues, interrupt and kill."""

import gc

import pytest

from kernel import client
from tests.harness import wait_for

# Python code that runs until interrupted, in small steps (an in-process engine
# can only be interrupted between Python steps).
FOREVER = "import time\nwhile True:\n    time.sleep(0.01)"


def run_forever(mec, targets, directory):
    """Start FOREVER on ``targets`` (non-blocking); return once each engine is running it."""
    code = f"open(f'{directory}/started-{{id}}', 'w').close()\n{FOREVER}"
    pending = mec.execute(code, targets=targets, block=False)
    ids = [targets] if isinstance(targets, int) else targets
    wait_for(lambda: all((directory / f"started-{i}").exists() for i in ids),
             what=f"engines {ids} to start running")
    return pending, code


# -- PendingResult -----------------------------------------------------------------------


def test_non_blocking_execute_returns_a_pending_result(mec, tmp_path):
    release = tmp_path / "release"
    mec.execute(f"import os, time\nrelease = {str(release)!r}")
    pr = mec.execute("while not os.path.exists(release): time.sleep(0.002)", block=False)
    try:
        assert isinstance(pr, client.PendingResult)
        assert pr.get_result(block=False) is None  # the engines wait for the file
        assert pr.get_result(default="notyet", block=False) == "notyet"
    finally:
        release.touch()
    results = pr.get_result()
    assert isinstance(results, client.ResultList)
    assert [r["number"] for r in results] == [2] * 4
    assert pr.r is results  # cached


def test_r_is_get_result_blocking(mec):
    pr = mec.execute("a = id * 2", block=False)
    assert [r["id"] for r in pr.r] == [0, 1, 2, 3]
    assert mec.pull("a", block=False).r == [0, 2, 4, 6]
    assert mec.push(dict(b=1), block=False).r == [None] * 4


def test_every_method_can_be_non_blocking(mec):
    mec.block = False
    prs = [
        mec.execute("a = 1"), mec.push(dict(b=2)), mec.pull("a"), mec.get_result(),
        mec.keys(), mec.set_properties(dict(p=1)), mec.get_properties(), mec.has_properties("p"),
        mec.del_properties("p"), mec.clear_properties(), mec.scatter("s", range(8)),
        mec.gather("s"), mec.map(lambda x: -x, range(4)), mec.queue_status(),
        mec.push_function(dict(f=len)), mec.pull_function("f"), mec.reset(),
    ]
    assert all(isinstance(pr, client.PendingResult) for pr in prs)
    mec.barrier(prs)
    assert prs[2].r == [1] * 4
    assert prs[11].r == list(range(8))
    assert prs[12].r == [0, -1, -2, -3]
    assert prs[-2].r == [len] * 4
    assert mec.clear_queue().r == [None] * 4
    assert mec.interrupt().r == [None] * 4


def test_add_callback_is_applied_once_to_the_result(mec):
    pr = mec.pull("id", block=False)
    pr.add_callback(lambda ids, k: [i * k for i in ids], 10)
    pr.add_callback(sum)
    assert pr.r == 60
    assert pr.r == 60


def test_an_error_is_reraised_on_every_access(mec):
    pr = mec.execute("1/0", block=False)
    for _ in range(3):
        with pytest.raises(client.CompositeError, match="ZeroDivisionError"):
            pr.r
    with pytest.raises(client.CompositeError):
        pr.get_result(block=False)
    assert pr.called and pr.raised


def test_controller_errors_arrive_through_the_pending_result(mec):
    pr = mec.pull("id", targets=7, block=False)
    with pytest.raises(client.InvalidEngineID):
        pr.r


def test_barrier_waits_for_all_and_keeps_errors_for_later(mec):
    mec.block = False
    prs = [mec.execute("import time; time.sleep(0.05)") for _ in range(5)]
    prs.append(mec.execute("1/0", targets=0))
    assert mec.barrier(prs) is None
    assert all(pr.called for pr in prs)
    assert [r["number"] for r in prs[4].r] == [5] * 4
    with pytest.raises(client.CompositeError):
        prs[-1].r
    mec.barrier(tuple(prs))  # a tuple, as in the legacy docs


def test_barrier_rejects_other_objects(mec):
    with pytest.raises(client.NotAPendingResult, match="must be PendingResult instances"):
        mec.barrier([mec.pull("id", block=False), 5])
    with pytest.raises(client.NotAPendingResult, match="a list of PendingResult"):
        mec.barrier(5)
    single = mec.pull("id", block=False)
    mec.barrier(single)
    assert single.called


def test_flush_drops_pending_results(mec):
    mec.block = False
    unread = [mec.execute("a = 1"), mec.pull("id")]
    done = mec.pull("id")
    assert done.r == [0, 1, 2, 3]
    mec.flush()
    for pr in unread:
        with pytest.raises(client.InvalidDeferredID, match="invalid deferred id"):
            pr.r
    assert done.r == [0, 1, 2, 3]  # fetched before the flush: still there
    assert mec.pull("a").r == [1] * 4  # the flushed commands still ran


def test_dropped_pending_results_leave_nothing_behind(mec):
    for _ in range(300):
        mec.execute("x = 1", block=False)
        mec.pull("id", block=False)
    gc.collect()
    assert mec.pull("id") == [0, 1, 2, 3]
    connection = mec._connection
    assert not connection._ready and not connection._waiting


def test_unread_results_are_taken_off_the_controller(mec):
    kept = [mec.pull("id", block=False) for _ in range(50)]
    mec.pull("id")  # waiting for a later reply reads the earlier ones
    assert len(mec._connection._ready) == 50
    assert [pr.r for pr in kept] == [[0, 1, 2, 3]] * 50
    assert not mec._connection._ready


# -- queues ------------------------------------------------------------------------------


def test_queue_status_of_idle_engines(mec):
    assert mec.queue_status() == [(i, {"queue": [], "pending": "None"}) for i in range(4)]
    assert mec.queue_status(targets=[2]) == [(2, {"queue": [], "pending": "None"})]


def test_queue_status_clear_queue_and_interrupt(mec, tmp_path):
    running, code = run_forever(mec, 0, tmp_path)
    mec.block = False
    queued = [mec.execute("a = 1", targets=0), mec.execute("b = 2", targets=0)]
    other = mec.execute("c = 3", targets=1)
    status = mec.queue_status(targets=0, block=True)
    assert status == [(0, {"queue": ["execute('a = 1')", "execute('b = 2')"],
                           "pending": f"execute({code!r})"})]
    assert mec.clear_queue(targets=0, block=True) == [None]
    assert other.r[0]["id"] == 1  # other engines' work is untouched
    assert not running.called
    assert mec.interrupt(targets=0, block=True) == [None]
    with pytest.raises(client.CompositeError) as e:
        running.r
    assert e.value.elist[0][0] is KeyboardInterrupt
    # a cleared command already sent to the engine reports when the engine reaches it
    for pr in queued:
        with pytest.raises(client.CompositeError) as e:
            pr.r
        assert e.value.elist[0][0] is client.QueueCleared
        assert "[0:execute]: QueueCleared: execute" in str(e.value)
    # the engine lives on with its namespace
    mec.block = True
    mec.execute("d = 4", targets=0)
    assert mec.pull("d", targets=0) == [4]
    assert mec.queue_status(targets=0) == [(0, {"queue": [], "pending": "None"})]


def test_interrupt_of_idle_engines_does_nothing(mec):
    assert mec.interrupt() == [None] * 4
    assert mec.execute("a = 1")[0]["number"] == 1


def test_interrupt_all_engines(mec, tmp_path):
    prs, _ = run_forever(mec, [0, 1, 2, 3], tmp_path)
    mec.interrupt()
    with pytest.raises(client.CompositeError) as e:
        prs.r
    assert [etype for etype, _, _ in e.value.elist] == [KeyboardInterrupt] * 4
    assert mec.pull("id", block=True) == [0, 1, 2, 3]


def test_clear_queue_of_idle_engines(mec):
    assert mec.clear_queue() == [None] * 4


# -- kill ----------------------------------------------------------------------------------


def test_kill_stops_the_target_engines_only(mec, backend):
    assert mec.kill(targets=3) == [None]
    wait_for(lambda: mec.get_ids() == [0, 1, 2], what="engine 3 to leave")
    assert mec.pull("id") == [0, 1, 2]
    backend.ensure_engines(4)  # a new engine gets the free id
    assert mec.pull("id") == [0, 1, 2, 3]


def test_kill_controller_stops_every_engine_and_the_controller(fresh_backend):
    small = fresh_backend(engines=2)
    mec = small.mec()
    try:
        assert mec.kill(controller=True, targets=0) == [None, None]
        wait_for(small.controller_stopped, what="the controller to stop")
        wait_for(lambda: not small.live_engines(), what="the engines to stop")
        with pytest.raises(client.ConnectionLost):
            mec.get_ids()
    finally:
        mec.close()


def test_benchmark(mec):
    result = mec.benchmark(push_size=1000)
    assert set(result) == {"single_engine_latency", "all_engine_latency", "single_engine_push", "all_engine_push"}
    assert result["single_engine_latency"][1] == "msec"
    assert result["all_engine_push"][1] == "MB/sec"
    assert all(value > 0 for value, _ in result.values())
