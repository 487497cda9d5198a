"""What an engine does with the controller's messages, with stand-in connections and no network."""

import pytest

from kernel.engine.core import STOP
from kernel.engine.runner import CLOSE_WAIT
from tests.harness.offline import offline_engine, run_queued


class Connection:
    """Stands for one connection to a controller: open or lost, and the replies sent on it."""

    def __init__(self):
        self.connected = True
        self.replies = []

    def send_from_thread(self, header, buffers=()):
        self.replies.append(header)

    def close(self):
        self.connected = False


def call(cid, method, **args):
    return {"op": "call", "cid": cid, "method": method, "args": args}


def test_replies_go_on_the_connection_the_command_came_on_and_kill_ends_the_loop():
    first = Connection()
    engine = offline_engine(first)
    engine.on_message(call(1, "execute", code="a = 1"), [])
    second = Connection()
    engine.connector.protocol = second  # the controller came back on a new connection
    engine.on_registered(0)
    engine.on_message(call(1, "execute", code="b = a + 1"), [])
    engine.on_message(call(2, "kill"), [])
    run_queued(engine)  # returns: kill's reply is the last
    assert [(r["cid"], r["status"]) for r in first.replies] == [(1, "ok")]
    assert [(r["cid"], r["status"]) for r in second.replies] == [(1, "ok"), (2, "ok")]
    assert engine.interpreter.pull("b") == 2


def test_commands_from_a_connection_lost_before_they_ran_are_dropped():
    lost = Connection()
    engine = offline_engine(lost)
    engine.on_message(call(1, "execute", code="a = 1"), [])
    lost.connected = False
    engine.on_stopped("gone")
    run_queued(engine)
    assert lost.replies == [] and "a" not in engine.interpreter.keys()
    assert engine.exit_code == 1 and engine.exit_reason == "gone"


def test_a_command_cancelled_before_it_started_is_answered_with_queue_cleared():
    connection = Connection()
    engine = offline_engine(connection)
    engine.on_message(call(1, "execute", code="a = 1"), [])
    engine.on_message({"op": "cancel", "cids": [1]}, [])
    engine.on_message(call(2, "kill"), [])
    run_queued(engine)
    cleared, killed = connection.replies
    assert cleared["etype"] == "QueueCleared" and "removed from engine 0's queue" in cleared["message"]
    assert killed["cid"] == 2 and "a" not in engine.interpreter.keys()


def test_what_a_read_brings_runs_as_the_read_ends_after_all_of_it_is_seen():
    connection = Connection()
    engine = offline_engine(connection)
    run_queued(engine)  # registered
    engine.on_message(call(1, "execute", code="a = 1"), [])
    engine.on_message({"op": "interrupt", "cid": 2}, [])  # the same read: seen before command 2 starts
    engine.on_message(call(2, "execute", code="b = 1"), [])
    assert connection.replies == []  # nothing runs while the read is handed up
    engine.on_read_done()  # with no turn of the reactor
    assert [(r["cid"], r["status"], r.get("etype")) for r in connection.replies] == [
        (1, "ok", None), (2, "error", "KeyboardInterrupt")]
    assert "b" not in engine.interpreter.keys()


def test_what_comes_outside_a_read_runs_on_the_reactors_next_turn():
    engine = offline_engine(Connection())
    run_queued(engine)
    engine.on_stopped("gone")  # the connection was lost: no read is under way
    assert list(engine.inbox.items) == [STOP]
    engine.reactor.advance(0)
    assert not engine.inbox.items
    engine.reactor.advance(CLOSE_WAIT)
    assert engine.reactor.stopped


def test_an_item_that_raises_leaves_the_engine_serving(monkeypatch):
    connection = Connection()
    engine = offline_engine(connection)
    run_queued(engine)
    handle = engine._handle
    monkeypatch.setattr(engine, "_handle", lambda item: 1 / 0)  # a bug in the engine, not in user code
    engine.on_message(call(1, "execute", code="a = 1"), [])
    with pytest.raises(ZeroDivisionError):  # to Twisted, which logs it
        engine.on_read_done()
    monkeypatch.setattr(engine, "_handle", handle)
    engine.on_message(call(2, "execute", code="b = 2"), [])
    run_queued(engine)
    assert [r["cid"] for r in connection.replies] == [2]
    assert engine.interpreter.pull("b") == 2
