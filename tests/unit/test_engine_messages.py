"""The engine speaks the declared protocol (kernel.wire.messages): what it takes and what it sends.

An engine core runs here with a stand-in connection and no network. Every
frame it sends goes through the real encoding and is decoded as the
controller decodes it (``FROM_ENGINE``), which fails the test if one breaks
its declaration.
"""

import pytest
from twisted.logger import LogLevel, capturedLogs, formatEvent

from kernel.client import StringTask
from kernel.engine import methods
from kernel.errors import BadRequest, CapabilityRefused, ProtocolError
from kernel.wire import framing, messages, serialize
from kernel.engine.runner import Engine
from tests.harness.offline import OfflineReactor, offline_engine, run_queued


class Wire:
    """The engine's end of a connection, keeping what the controller would decode from it."""

    connected = True

    def __init__(self):
        self.received = []  # (message class, header, buffers), as the controller decodes them
        self.peer_versions = {}
        self.failure = None
        self.closed = False
        self.transport = self

    def send_encoded(self, parts):
        for header, buffers in framing.FrameDecoder().feed(b"".join(bytes(p) for p in parts)):
            self.received.append((messages.FROM_ENGINE.decode(header), header, buffers))

    def send(self, header, buffers=()):
        self.send_encoded(framing.encode(header, buffers))

    send_from_thread = send

    def get_write_buffer_size(self):
        return 0  # every frame went out at once

    def loseConnection(self):
        self.closed = True

    def close(self):  # the engine leaving, after the kill that ends each test
        self.left = True

    def replies(self):
        return [header for message, header, _ in self.received if message is messages.Reply]


def call(cid, method, buffers=(), **fields):
    return messages.Call.header(cid=cid, method=method, **fields), list(buffers)


def serve(engine, *calls):
    """Hand the engine these messages, then a kill, and run its command loop until the kill."""
    for header, buffers in calls + (call(999, "kill"),):
        engine.on_message(header, buffers)
    run_queued(engine)


def execute(cid, code):
    return call(cid, "execute", args={"code": code})


@pytest.mark.parametrize("header, named", [
    ({"method": "frobnicate"}, "call.method must be one of"),
    ({"method": "execute", "args": {"code": 5}}, "args.code must be a string, not 5"),
    ({"method": "execute", "args": {"code": "b = 1"}, "stream": 1}, "call.stream must be true or false, not 1"),
    ({"method": "get_result", "args": {"i": True}}, "args.i must be an int, not True"),
    ({"method": "execute", "args": {"code": "b = 1"}, "frame": 2}, "has no field 'frame'"),
    ({"method": "execute", "args": {"code": "b = 1", "verbose": True}}, "unknown field 'verbose'"),
    ({"method": "execute", "args": {"code": "b = 1", "echo": 0}}, "args.echo must be true or false, not 0"),
])
def test_a_call_that_fails_its_check_is_answered_with_bad_request_and_the_engine_serves_on(header, named):
    wire = Wire()
    engine = offline_engine(wire)
    with capturedLogs() as events:
        serve(engine, ({"op": "call", "cid": 1, **header}, []), execute(2, "a = 1"))
    refused, done, killed = wire.replies()
    assert (refused["cid"], refused["status"], refused["etype"]) == (1, "error", "BadRequest")
    assert named in refused["message"] and "engine 0 cannot run this call" in refused["message"]
    assert refused["method"] == header["method"]
    [(_, _, buffers)] = [r for r in wire.received if r[1] is refused]
    assert isinstance(serialize.loads(buffers), BadRequest)  # the client re-raises the type
    assert (done["cid"], done["status"], killed["cid"]) == (2, "ok", 999)
    assert "b" not in engine.interpreter.keys() and engine.interpreter.pull("a") == 1
    assert any(e["log_level"] == LogLevel.error and named in formatEvent(e) for e in events)


@pytest.mark.parametrize("header, named", [
    ({"op": "call", "method": "execute", "args": {"code": "b = 1"}}, "needs its field 'cid'"),
    ({"op": "call", "cid": True, "method": "execute", "args": {"code": "b = 1"}}, "call.cid must be an int"),
    ({"op": "call", "cid": "3", "method": "execute", "args": {"code": "b = 1"}}, "call.cid must be an int"),
    ({"op": "call", "cid": 0, "method": "execute", "args": {"code": "b = 1"}}, "call.cid must be an int >= 1"),
    ({"op": "interrupt", "cid": "x"}, "interrupt.cid must be an int"),
    ({"op": "cancel", "cids": [True]}, "cancel.cids[0] must be an int"),
    ({"op": "cancel"}, "needs its field 'cids'"),
    ({"op": "hb", "heartbeat_period": "soon"}, "hb.heartbeat_period must be a finite number"),
    ({"op": "bye", "reason": "x"}, "has no field 'reason'"),
    ({"op": "frobnicate"}, "unknown controller-to-engine message 'frobnicate'"),
])
def test_a_message_with_no_call_to_answer_is_logged_and_ignored_and_the_engine_serves_on(header, named):
    wire = Wire()
    engine = offline_engine(wire)
    with capturedLogs() as events:
        serve(engine, (header, []), execute(2, "a = 1"))
    assert [(r["cid"], r["status"]) for r in wire.replies()] == [(2, "ok"), (999, "ok")]
    assert "b" not in engine.interpreter.keys() and engine.interpreter.pull("a") == 1
    assert not wire.closed and engine.interrupted is None and not engine.cancelled
    [event] = [e for e in events if e["log_level"] >= LogLevel.warn]
    assert named in formatEvent(event)


def test_the_connection_messages_go_to_the_connector_checked():
    wire = Wire()
    engine = Engine(OfflineReactor(), lambda: None)
    engine.connector._welcomed(wire)
    engine.on_message({"op": "registered", "id": "zero", "heartbeat_period": 1.0, "heartbeat_timeout": 4.0}, [])
    assert wire.closed and isinstance(wire.failure, ProtocolError)  # the engine registers again
    assert "registered.id must be an int >= 0, not 'zero'" in str(wire.failure)
    assert engine.connector.state == "registering"

    wire = Wire()
    engine.connector._welcomed(wire)
    engine.on_message(messages.Registered.header(id=3, heartbeat_period=1.0, heartbeat_timeout=4.0), [])
    assert (engine.connector.state, engine.connector.engine_id) == ("connected", 3)
    engine.on_message(messages.Heartbeat.header(heartbeat_period=2.0, heartbeat_timeout=8.0), [])
    assert engine.connector.heartbeat_timeout == 8.0
    with capturedLogs() as events:
        engine.on_message(messages.Welcome.header(interface="engine"), [])
    assert "second welcome" in formatEvent(events[0]) and not wire.closed
    engine.on_message(messages.Refused.header(error="too many engines"), [])
    assert wire.closed and isinstance(wire.failure, CapabilityRefused) and str(wire.failure) == "too many engines"
    assert [m for m, _, _ in wire.received] == [messages.Register, messages.Heartbeat]


def _task(**options):
    return list(serialize.dumps(StringTask("t = 1", **options)))


def test_every_message_an_engine_sends_passes_its_declaration():
    wire = Wire()
    engine = offline_engine(wire)
    engine.connector._welcomed(wire)
    engine.on_message(messages.Heartbeat.header(), [])
    unmet = "from kernel.errors import UnmetDependency\nraise UnmetDependency('not here')"
    function = serialize.dumps(lambda a: a + 1)
    serve(engine,
          execute(1, "x = 2\ng = (i for i in [])"),
          execute(2, "print('hi')\nx"),
          call(3, "execute", args={"code": "print('streamed')"}, stream=True),
          execute(4, "1/0"),
          call(5, "push", serialize.dumps({"y": 3})),
          call(6, "pull", args={"keys": ["x", "y"]}),
          call(7, "pull", args={"keys": "g"}),  # a generator: the reply is an error saying why
          call(8, "map", [*function, *serialize.dumps([(1,), (2,)])], args={"func_n": len(function)}),
          call(9, "get_result", args={"i": 1}),
          call(10, "keys"),
          call(11, "set_properties", serialize.dumps({"p": 1})),
          call(12, "get_properties", args={"keys": ["p"]}),
          call(13, "has_properties", args={"keys": ["p", "q"]}),
          call(14, "del_properties", args={"keys": "p"}),
          call(15, "clear_properties"),
          call(16, "run_task", _task(), taskid=1),
          call(17, "run_task", _task(depend=lambda properties: False), taskid=2),
          call(18, "run_task", serialize.dumps(StringTask(unmet)), taskid=3),
          call(19, "run_task", [b"not a pickle"], taskid=4),
          call(20, "reset"),
          ({"op": "call", "cid": 21, "method": "push", "args": []}, []),
          ({"op": "cancel", "cids": [23]}, []),
          execute(22, "z = 1"),
          execute(23, "z = 2"))
    sent = {(m.op, h.get("status")) for m, h, _ in wire.received}
    assert sent >= {("register", None), ("hb", None), ("output", None), ("reply", "ok"), ("reply", "error"),
                    ("reply", "declined"), ("reply", "unmet")}
    replies = {r["cid"]: r for r in wire.replies()}
    assert sorted(replies) == [*range(1, 24), 999]
    assert [replies[c]["status"] for c in (1, 2, 3, 5, 6, 8, 9, 10, 12, 13, 16, 22)] == ["ok"] * 12
    assert [replies[c].get("etype") for c in (4, 7, 19, 21, 23)] == [
        "ZeroDivisionError", "TypeError", "UnpicklingError", "BadRequest", "QueueCleared"]
    [output] = [(h, b) for m, h, b in wire.received if m is messages.Output]
    assert output[0]["cid"] == 3 and bytes(output[1][0]) == b"streamed\n"


def test_an_execute_without_echo_leaves_its_code_out_of_the_reply_but_not_out_of_the_history():
    wire = Wire()
    engine = offline_engine(wire)
    serve(engine, execute(1, "print(1)"), call(2, "execute", args={"code": "print(2)", "echo": False}),
          call(3, "get_result", args={"i": 2}))
    echoed, quiet, kept = (r["value"] for r in wire.replies()[:3])
    assert echoed["input"] == {"raw": "print(1)", "translated": "print(1)"}
    assert quiet == {"id": 0, "number": 2, "stdout": "2\n"}
    assert kept["input"] == {"raw": "print(2)", "translated": "print(2)"} and kept["stdout"] == "2\n"


def test_the_engine_has_a_function_for_each_declared_method():
    assert set(methods.METHODS) == set(messages.ENGINE_METHODS)
