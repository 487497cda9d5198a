"""The controller's task side on a virtual clock: memory, cancellation, sessions, schemes.

The in-process ``World`` (tests/harness/world.py) runs the real controller
service and engine core on a virtual clock, without sockets or processes.
"""

import gc
import tracemalloc

import pytest
from twisted.logger import capturedLogs

from kernel.client import Dependency, MapTask, PoisonTask, StringTask
from kernel.controller.engines import EngineRegistry
from kernel.controller.events import TaskForgotten
from kernel.controller.scheduler import SCHEMES, Scheduler
from kernel.controller.tasks import TaskController
from kernel.controller.taskstore import RECENT_ROWS, TaskStore
from kernel.settings import ControllerSettings
from kernel.errors import EngineDied, ProtocolError, StaleLease
from kernel.wire import serialize
from tests.harness import HOLD_CODE, Hold, World


@pytest.fixture
def world(world_factory):
    """``world_factory``, with the holds of ``hold_in`` released before the worlds stop."""
    made = []

    def make(**options):
        made.append(world_factory(**options))
        return made[-1]

    yield make
    for w in made:
        for h in getattr(w, "holds", ()):
            h.release()


def hold_in(w, path):
    h = Hold(w, path)
    w.holds = getattr(w, "holds", []) + [h]
    return h


# -- memory ------------------------------------------------------------------------------------------


def _controller_bytes(snapshot):
    """Bytes allocated by the controller's own code (the engines and clients share this process)."""
    keep = [tracemalloc.Filter(True, "*/kernel/controller/*")]
    return sum(stat.size for stat in snapshot.filter_traces(keep).statistics("filename"))


def test_finished_tasks_leave_only_small_metadata_in_memory(world):
    """Past the store's bounded cache of recent results, finished tasks cost a few bytes each."""
    w = world(engines=2)
    tc = w.tc
    payload = "x" * 5_000  # each task carries 5 kB; none of it may stay behind
    tracemalloc.start()
    try:
        first = RECENT_ROWS + 200  # fills the cache with results traced here, replaced by the next map's
        tc.map(lambda s: len(s), [payload] * first)
        w.run_until(lambda: not w.controller.store._parked["results"], what="the store to be written")
        gc.collect()
        before = _controller_bytes(tracemalloc.take_snapshot())
        n = 1000
        assert tc.map(lambda s: len(s), [payload] * n) == [5_000] * n
        w.run_until(lambda: not w.controller.store._parked["results"], what="the store to be written")
        gc.collect()
        after = _controller_bytes(tracemalloc.take_snapshot())
    finally:
        tracemalloc.stop()
    assert w.controller.live == {} and w.controller.waiters == {}
    assert not w.controller.store._parked["tasks"]
    print(f"{(after - before) / n:.0f} bytes per finished task")
    assert (after - before) / n < 400, f"{(after - before) / n:.0f} bytes per finished task"
    db_rows = w.controller.store.db.execute("SELECT count(*) FROM results").fetchone()[0]
    assert db_rows == n + first


# -- abort takes back a task its engine has not started -------------------------------------------


def test_abort_cancels_a_dispatched_task_that_has_not_started(world, tmp_path):
    w = world(engines=1)
    tc, hold = w.tc, hold_in(w, tmp_path / "hold")
    running = tc.run(hold.task())
    second = tc.run(StringTask("ran = 1", pull="ran"))  # sent to the engine, behind the first
    assert tc.task_status(second)["state"] == "pending"
    tc.abort(second)
    hold.release()
    tc.barrier(running)
    w.idle()
    assert "ran" not in w.engine(0).interpreter.namespace  # it never ran
    assert tc.run(StringTask("b = 1", pull="b"), block=True).ns.b == 1  # the slot was given back


def test_abort_takes_a_task_out_of_the_engines_queue(world, tmp_path):
    w = world(engines=1)
    tc, hold = w.tc, hold_in(w, tmp_path / "hold")
    hold_dir = str(hold.dir)
    rid = w._mec.request({"op": "call", "method": "execute", "targets": [0],
                          "args": {"code": f"hold_dir = {hold_dir!r}\n" + HOLD_CODE}})
    first = tc.run(StringTask("a = 1"))  # in flight behind the execute
    queued = tc.run(StringTask("queued = 1"))  # the engine's window is full: kept by the controller
    handle = w.registry.get(0)
    assert len(handle.queue) == 1
    tc.abort(queued)
    assert len(handle.queue) == 0
    hold.release()
    w._mec.wait(rid)
    tc.barrier(first)
    w.idle()
    assert "queued" not in w.engine(0).interpreter.namespace


# -- sessions ----------------------------------------------------------------------------------------


def test_a_closed_session_drops_its_waits(world, tmp_path):
    w = world(engines=1)
    hold = hold_in(w, tmp_path / "hold")
    taskid = w.tc.run(hold.task())
    other = w.client()
    other._connection.request({"op": "get_results", "taskids": [taskid], "block": True})
    other._connection.request({"op": "barrier", "taskids": [taskid, taskid]})
    assert len(w.controller.waiters[taskid]) == 2
    other.close()
    assert w.controller.waiters == {}
    hold.release()
    assert w.tc.get_task_result(taskid, block=True).failure is None


def test_malformed_requests_are_answered_as_bad_requests(world, monkeypatch):
    w = world(engines=0)
    session = w.tc._connection.session
    sent = []
    monkeypatch.setattr(session, "send", lambda header, buffers=(): sent.append(header))
    spec = {"kind": "map", "retries": 0, "has_depend": False}
    for bad, named in [
        ({"tasks": [[spec]], "counts": [2]}, "add up to 2, but the frame has 1"),  # counts do not match the buffers
        ({"tasks": [[spec]], "counts": [1, 0]}, "run: a payload count"),  # nor the chains
        ({"tasks": [[dict(spec, retries=-1)]], "counts": [1]}, "run.tasks[0][0].retries"),
        ({"tasks": [[dict(spec, after={"ids": ["1"], "all": True, "success": True, "failure": False})]],
          "counts": [1]}, "run.tasks[0][0].after.ids[0]"),
        ({"tasks": [[dict(spec, timeout=float("inf"))]], "counts": [1]}, "run.tasks[0][0].timeout"),
        ({"tasks": [[spec]], "counts": [1], "ids": [10**6]}, "task id 1000000 was never leased"),
    ]:
        session.message({"op": "run", "rid": 1, **bad}, [b"x"])
        assert sent[-1]["etype"] == "BadRequest" and named in sent[-1]["message"], sent[-1]
    with pytest.raises(ProtocolError):
        session.message({"op": "no such op", "rid": 1}, [])
    assert w.controller.next_id == 0  # nothing was accepted


def test_a_bug_in_a_request_handler_is_logged_and_answered_as_an_internal_error(world, monkeypatch):
    w = world(engines=0)
    monkeypatch.setattr(w.controller.queries, "status", lambda verbose: 1 / 0)
    from kernel.errors import InternalError

    with capturedLogs() as events:
        with pytest.raises(InternalError, match="ZeroDivisionError: division by zero"):
            w.tc.queue_status()
    assert any(event.get("log_failure") is not None for event in events)
    assert w.tc.run(StringTask("a = 1")) == 0  # the session goes on


def test_a_restarted_controller_keeps_results_and_continues_ids(tmp_path):
    first = World(tmp_path / "dir", engines=1)
    try:
        taskid = first.tc.run(StringTask("a = 1", pull="a"))
        first.tc.barrier(taskid)
    finally:
        first.stop()
    second = World(tmp_path / "dir", engines=1)
    try:
        assert second.tc.get_task_result(taskid).ns.a == 1
        leased_before = first.controller.next_id  # the first client's whole lease
        assert leased_before > taskid + 1
        assert second.tc.run(StringTask("a = 2")) == leased_before  # no id is given twice
    finally:
        second.stop()


def test_a_task_sent_again_under_its_leased_id_is_accepted_once(tmp_path):
    w = World(tmp_path / "dir", engines=1)
    try:
        conn = w.tc._connection
        [first, end, store] = conn.call({"op": "lease", "n": 2})[0]["value"]
        run = {"op": "run", "tasks": [[StringTask("a = 5", pull="a").spec()]], "counts": [1],
               "ids": [first], "store": store}
        payload = serialize.dumps(StringTask("a = 5", pull="a"))
        assert conn.call(dict(run), payload)[0]["op"] == "stored"
        assert conn.call(dict(run), payload)[0]["op"] == "stored"  # sent again: the answer was lost, say
        assert w.tc.get_task_result(first, block=True).ns.a == 5
        assert w.controller.queries.status()["succeeded"] == 1
        with pytest.raises(ValueError, match="never leased"):
            conn.call(dict(run, ids=[end + 5]), payload)
        with pytest.raises(StaleLease, match="leased from a task store that is gone"):
            conn.call(dict(run, ids=[first + 1], store="0" * 16), payload)  # leased before a --reset-db
        with pytest.raises(ValueError, match="lease.n must be an int >= 1"):
            conn.call({"op": "lease", "n": 0})
    finally:
        w.stop()


def test_store_batches_writes_and_reads_parked_rows(tmp_path):
    from twisted.internet.task import Clock

    clock = Clock()
    store = TaskStore(tmp_path / "t.sqlite", clock)
    store.put_result(1, {"status": "succeeded", "completed": 2.0}, [b"ab", bytearray(b"c")])
    assert store.get_result(1) == ({"status": "succeeded", "completed": 2.0}, [b"ab", bytearray(b"c")])  # parked
    clock.advance(1)
    assert not store._parked["results"]
    meta, buffers = store.get_result(1)
    assert meta == {"status": "succeeded", "completed": 2.0} and [bytes(b) for b in buffers] == [b"ab", b"c"]
    store.put_result(2, {}, [])
    assert store.delete_results([1, 2, 3]) == 2
    assert store.get_result(1) is None and store.get_result(2) is None
    store.put_task(5, {"chain": []}, [b"x"])
    store.close()  # flushes
    again = TaskStore(tmp_path / "t.sqlite", clock)
    assert again.get_task(5)[0] == {"chain": []}
    again.close()


# -- the controller's collaborators, and questions that change nothing ---------------------------


def test_a_controller_works_with_the_collaborators_it_is_given(tmp_path):
    from twisted.internet.task import Clock

    clock = Clock()
    clock.advance(1000)
    store = TaskStore.open(tmp_path / "db", clock)
    scheduler = Scheduler("lru", hwm=1)
    c = TaskController(clock, EngineRegistry(clock), store, ControllerSettings(finished_kept=1), scheduler)
    spec = {"kind": "string", "retries": 0, "has_depend": False}
    ids = [c.submit([spec], [[b"payload"]]) for _ in range(3)]  # no engine: they wait
    assert ids == [0, 1, 2] and c.scheduler is scheduler
    assert c.queries.record(0) == {"taskid": 0, "state": "scheduled", "submitted": 1000, "engineid": None,
                                   "rounds": 0, "waiting": "waiting for an engine"}
    for taskid in ids:
        c.abort(taskid)
    assert not scheduler.knows(0) and scheduler.knows(2)  # finished_kept=1: only the last is remembered
    record = c.queries.record(0)  # read from the store, and the scheduler is not told
    assert record["state"] == "failed" and record["error"]["etype"] == "TaskAborted"
    assert not scheduler.knows(0)
    assert c.clear([0, 7]) == (1, [7])
    assert c.queries.record(0) == {"taskid": 0, "state": None, "waiting": None, "engineid": None,
                                   "cleared": True}  # its outcome is forgotten too
    assert [(t["taskid"], t["status"]) for t in c.queries.timeline()] == [(1, "failed"), (2, "failed")]
    assert c.queries.status() == {"scheduled": 0, "pending": 0, "succeeded": 0, "failed": 3}
    c.stop()


# -- engines come and go -------------------------------------------------------------------------


def test_a_task_is_sent_only_after_the_engine_heard_it_is_registered(world):
    w = world(engines=0)
    taskid = w.tc.run(StringTask("b = id", pull="b"))
    engine = w.add_engine()
    assert engine.received == ["registered", "call"]  # an engine drops calls that come first
    assert w.tc.get_task_result(taskid, block=True).ns.b == engine.id == 0


def test_poison_after_is_configurable(world, tmp_path):
    w = world(engines=2, poison_after=1)
    hold = hold_in(w, tmp_path / "hold")
    taskid = w.tc.run(hold.task(retries=5))
    killed = hold.kill_running()
    tr = w.tc.get_task_result(taskid, block=True)
    assert isinstance(tr.failure, PoisonTask) and f"killed 1 engines ({killed})" in str(tr.failure)
    never = world(engines=2, poison_after=0)
    hold = hold_in(never, tmp_path / "hold2")
    taskid = never.tc.run(hold.task(retries=1))
    hold.kill_running()
    hold.kill_running()
    assert isinstance(never.tc.get_task_result(taskid, block=True).failure, EngineDied)


def test_a_task_queued_behind_the_one_that_killed_its_engine_is_not_blamed(world, tmp_path):
    w = world(engines=1)
    hold = hold_in(w, tmp_path / "hold")
    killer = w.tc.run(hold.task())
    bystander = w.tc.run(StringTask("b = 1", pull="b"))  # dispatched behind it (hwm 2), not started
    hold.kill_running()
    w.ensure_engines(1)
    assert w.tc.get_task_result(killer, block=True).failure is not None
    assert w.tc.get_task_result(bystander, block=True).failure is None


# -- every scheme -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_balances_and_honours_dependencies(world, tmp_path, scheme):
    w = world(engines=3, scheme=scheme)
    tc, hold = w.tc, hold_in(w, tmp_path / "hold")
    held = [tc.run(hold.task()) for _ in range(6)]
    w.run_until(lambda: len(hold.attempts()) >= 3, what="three holds to start")
    assert sorted({eid for eid, _ in hold.attempts()}) == [0, 1, 2]  # one engine each first
    status = tc.queue_status()
    assert status["pending"] == 6 and status["scheduled"] == 0  # two per engine: its window
    hold.release()
    tc.barrier(held)
    assert tc.map(lambda x: x * x, range(50)) == [x * x for x in range(50)]
    first = tc.run(StringTask("a = 1"))
    tr = tc.get_task_result(tc.run(StringTask("b = a", pull="b", follow=Dependency([first]))), block=True)
    assert tr.ns.b == 1 and tr.engineid == tc.get_task_result(first).engineid
    w.set_properties({"chosen": True}, targets=[1])
    assert tc.run(MapTask(lambda: id, depend=lambda p: p.get("chosen")), block=True) == 1


def test_a_refused_submission_is_reported_by_the_next_call_naming_the_task(tmp_path):
    w = World(tmp_path / "dir", engines=1)
    try:
        ok = w.tc.run(StringTask("a = 1"))
        w.tc._pipeline._ids = iter([10 ** 6])  # an id the controller never leased
        bad = w.tc.run(StringTask("a = 2"))
        with pytest.raises(ValueError, match=f"task {bad} was refused by the controller: .*never leased"):
            w.tc.barrier([ok])
        w.tc.barrier([ok])  # reported once; the client goes on
    finally:
        w.stop()


def test_at_exit_every_client_waits_for_the_answers_to_its_runs(tmp_path):
    from kernel.client import pipeline

    w = World(tmp_path / "dir", engines=1)
    try:
        ids = [w.tc.run(StringTask("a = 1")) for _ in range(3)]
        assert len(w.tc._pipeline._unanswered) == 3
        pipeline._settle_all()
        assert w.tc._pipeline._unanswered == {} and all(w.controller.submitted(t) for t in ids)
    finally:
        w.stop()


# -- rejection: rounds rest on the clock, never a busy loop ----------------------------------------


def never_here():
    from kernel.errors import TaskRejectError

    raise TaskRejectError(f"not on engine {id}")


def refusals(events):
    return [e for e in events if e.get("log_format", "").startswith("task {taskid} refused by engine")]


def test_a_task_every_engine_refuses_rests_between_rounds(world):
    w = world(engines=2)
    with capturedLogs() as events:
        taskid = w.tc.run(MapTask(never_here, retries=1000))
        start = w.clock.seconds()
        w.run_until(lambda: w.clock.seconds() >= start + 10, what="10 s of virtual time")
        w.run_until(lambda: "goes round them again shortly" in (w.tc.task_status(taskid)["waiting"] or ""),
                    what="the task to rest")
        tried = refusals(events)
        rounds = w.tc.task_status(taskid)["rounds"]
    assert {(e["taskid"], e["eid"]) for e in tried} == {(taskid, 0), (taskid, 1)}
    assert tried[0]["message"] in ("not on engine 0", "not on engine 1")
    # each engine once a round, and a round at most every round_delay (1 s)
    assert len(tried) == 2 * rounds and 2 <= rounds <= 12


def test_a_new_engine_takes_a_task_every_engine_refused(world):
    w = world(engines=1)

    def only_on_1():
        from kernel.errors import TaskRejectError

        if id != 1:
            raise TaskRejectError("not here")
        return id

    taskid = w.tc.run(MapTask(only_on_1, timeout=600))
    w.run_until(lambda: w.tc.task_status(taskid)["rounds"] == 1, what="engine 0 to refuse the task")
    assert w.tc.spin() is True  # a timeout, no retries: only an event starts another round
    w.run_until(lambda: w.tc.task_status(taskid)["rounds"] == 2, what="engine 0 to refuse it again")
    w.add_engine()
    assert w.tc.get_task_result(taskid, block=True) == 1


class CountingDB:
    """The store's SQLite connection, counting the statements run through it."""

    def __init__(self, db):
        self.db = db
        self.statements = 0

    def execute(self, *args):
        self.statements += 1
        return self.db.execute(*args)

    def __getattr__(self, name):
        return getattr(self.db, name)


def test_a_barrier_listing_millions_of_ids_costs_one_store_query(world, monkeypatch):
    w = world(engines=1)
    old = w.tc.run(StringTask("a = 1"))
    w.tc.barrier(old)
    w.controller.store.flush()
    for taskid in list(w.controller._finished):  # as if finished long ago: only the store knows it
        w.controller.scheduler.handle(TaskForgotten(taskid))
    counting = CountingDB(w.controller.store.db)
    monkeypatch.setattr(w.controller.store, "db", counting)
    session = w.tc._connection.session
    sent = []
    monkeypatch.setattr(session, "send", lambda header, buffers=(): sent.append(header))
    never_given = list(range(10**6, 10**6 + 100_000))
    session.message({"op": "barrier", "rid": 5, "taskids": [old] * 4_000_000 + never_given}, [])
    assert sent == [{"op": "result", "rid": 5, "value": None}]
    assert counting.statements <= 1
