"""Stopping what a client waited for: interrupts that name a command, ``stop_calls``, ``stop_tasks``.

The engine's part with stand-in connections; the controller's on the
in-process World (tests/harness/world.py), the real service and engine core
on a virtual clock. A real Ctrl-C is sent in tests/integration/test_interrupt_forwarding.py.
"""

import pytest

from kernel.client import StringTask, interrupts
from kernel.errors import TaskAborted
from kernel.wire import messages
from tests.harness import HOLD_CODE, Hold, World
from tests.harness.offline import offline_engine, run_queued


class Connection:
    """Stands for an engine's connection to its controller: the replies sent on it."""

    connected = True

    def __init__(self):
        self.replies = []

    def send_from_thread(self, header, buffers=()):
        self.replies.append(header)

    def close(self):
        self.connected = False


def engine_with(*messages_in):
    connection = Connection()
    engine = offline_engine(connection)
    for header in messages_in:
        engine.on_message(header, [])
    engine.on_message({"op": "call", "cid": 99, "method": "kill"}, [])
    run_queued(engine)
    return engine, connection.replies


def execute(cid, code):
    return {"op": "call", "cid": cid, "method": "execute", "args": {"code": code}}


def test_an_interrupt_naming_a_command_not_started_stops_it_as_it_starts():
    engine, replies = engine_with(execute(1, "a = 1"), {"op": "interrupt", "cid": 2}, execute(2, "b = 1"),
                                  execute(3, "c = 1"))
    assert [(r["cid"], r["status"], r.get("etype")) for r in replies[:3]] == [
        (1, "ok", None), (2, "error", "KeyboardInterrupt"), (3, "ok", None)]
    assert "b" not in engine.interpreter.keys() and engine.interpreter.pull("c") == 1


def test_an_interrupt_naming_a_finished_command_stops_nothing():
    engine, replies = engine_with(execute(1, "a = 1"), execute(2, "b = 1"))
    engine.on_message({"op": "interrupt", "cid": 1}, [])  # late: command 1 is long done
    assert [r["status"] for r in replies] == ["ok", "ok", "ok"]


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path / "world", engines=1)
    hold = Hold(w, tmp_path / "hold")
    yield w, hold
    hold.release()
    w.stop()


def test_stop_calls_interrupts_the_running_command_and_takes_back_the_others(world):
    w, hold = world
    mec = w._mec

    def call(code):
        return mec.request(messages.MultiEngineCall.header(method="execute", targets=[0], args={"code": code}))

    running = call(f"hold_dir = {str(hold.dir)!r}\n" + HOLD_CODE)
    hold.wait_new_attempt()
    behind = call("behind = 1")  # sent to the engine: its window holds two
    queued = call("queued = 1")  # kept by the controller
    assert len(w.registry.get(0).queue) == 1
    header, _ = mec.call(messages.StopCalls.header(calls=[running, behind, queued, 12345]))
    assert header["value"] == [0]  # the engine whose command was interrupted

    def etype(rid):
        [entry] = mec.wait(rid)[0]["results"]
        return entry.get("etype")

    assert [etype(running), etype(behind), etype(queued)] == ["KeyboardInterrupt", "QueueCleared", "QueueCleared"]
    w.idle()  # the engine is free and kept its namespace
    assert "hold_dir" in w.engine(0).interpreter.namespace
    assert "behind" not in w.engine(0).interpreter.namespace and "queued" not in w.engine(0).interpreter.namespace


def test_stop_tasks_aborts_the_unfinished_and_interrupts_the_running(world):
    w, hold = world
    tc = w.tc
    running = tc.run(hold.task())
    hold.wait_new_attempt()
    waiting = [tc.run(StringTask(f"ran_{i} = 1", retries=2)) for i in range(3)]
    header, _ = tc._connection.call(messages.StopTasks.header(taskids=[running, *waiting, 777]))
    assert header["value"] == 4
    for taskid in [running, *waiting]:
        result = tc.get_task_result(taskid, block=True)
        assert isinstance(result.failure, TaskAborted)
    assert tc.run(StringTask("after = 1", pull="after"), block=True).ns.after == 1  # the engine is free
    namespace = w.engine(0).interpreter.namespace
    assert not any(f"ran_{i}" in namespace for i in range(3))  # none ran, none was retried


def test_nothing_is_asked_with_forwarding_off(monkeypatch):
    asked = []

    class Recorder:
        def call(self, header, buffers=(), timeout=None):
            asked.append(header["op"])

    monkeypatch.setenv("KERNEL_CLIENT_FORWARD_INTERRUPTS", "0")
    interrupts.stop_calls(Recorder(), [1])
    monkeypatch.setenv("KERNEL_CLIENT_FORWARD_INTERRUPTS", "1")
    interrupts.stop_calls(Recorder(), [1])
    interrupts.stop_tasks(Recorder(), [])  # nothing waited for: nothing to ask
    assert asked == ["stop_calls"]
