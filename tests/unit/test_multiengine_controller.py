"""The controller's multiengine interface against fake engines: fan-out, gather, targets."""

from pathlib import Path

import pytest
from twisted.internet.task import Clock

from kernel.controller.engines import EngineRegistry
from kernel.controller.multiengine import MultiEngineInterface, resolve_targets
from kernel.errors import InvalidEngineID, NoEnginesRegistered, ProtocolError
from kernel.wire import framing
from tests.unit.recording import EngineConnection


class FakeHandle:
    def __init__(self, eid):
        self.id = eid
        self.commands = []

    def submit(self, command):
        self.commands.append(command)

    def answer(self, index=0, **reply):
        command = self.commands.pop(index)
        command.on_done(self.id, {"op": "reply", "cid": 1, "status": "ok", **reply}, [])


class FakeRegistry:
    def __init__(self, ids):
        self.engines = {i: FakeHandle(i) for i in ids}

    def ids(self):
        return sorted(self.engines)

    def get(self, eid):
        return self.engines.get(eid)


class FakeConfig:
    ipythondir = Path("/cluster/dir")


class FakeController:
    config = FakeConfig()

    def __init__(self):
        self.changed = []
        self.stops = []

    def properties_changed(self, eid):
        self.changed.append(eid)

    def stop_soon(self, why):
        self.stops.append(why)


class FakeProtocol:
    def __init__(self):
        self.sent = []

    def send(self, header, buffers=()):
        self.sent.append((header, list(buffers)))


def session(ids=(0, 1, 2, 3)):
    registry = FakeRegistry(ids)
    controller = FakeController()
    interface = MultiEngineInterface(registry, controller)
    protocol = FakeProtocol()
    return interface.open_session(protocol), registry, controller, protocol


def test_resolve_targets():
    registry = FakeRegistry([0, 1, 3])
    assert resolve_targets(registry, "all") == [0, 1, 3]
    assert resolve_targets(registry, 3) == [3]
    assert resolve_targets(registry, [3, 0, 3]) == [3, 0, 3]
    with pytest.raises(InvalidEngineID, match="Engine with id 2 is not registered"):
        resolve_targets(registry, [0, 2])
    with pytest.raises(NoEnginesRegistered, match="Check the logs in /x/log if"):
        resolve_targets(FakeRegistry([]), "all", lambda: "/x/log")


def test_one_reply_per_target_in_target_order_even_when_repeated():
    s, registry, _, protocol = session()
    s.message({"op": "call", "rid": 7, "method": "pull", "targets": [2, 0, 2], "args": {"keys": "a"}}, [])
    assert [len(registry.get(i).commands) for i in range(4)] == [1, 0, 2, 0]
    registry.get(2).answer(1, value="second")
    registry.get(0).answer(value="zero")
    assert protocol.sent == []
    registry.get(2).answer(0, value="first")
    header, buffers = protocol.sent[0]
    assert header["rid"] == 7
    assert [(e["id"], e["value"]) for e in header["results"]] == [(2, "first"), (0, "zero"), (2, "second")]


def test_per_target_buffers_go_to_their_target():
    s, registry, _, protocol = session()
    s.message({"op": "call", "rid": 1, "method": "push", "targets": [1, 3], "per_target": [1, 2]},
              [b"a", b"b", b"c"])
    assert registry.get(1).commands[0].buffers == [b"a"]
    assert registry.get(3).commands[0].buffers == [b"b", b"c"]
    s.message({"op": "call", "rid": 2, "method": "push", "targets": [1], "per_target": [2]}, [b"a"])
    assert protocol.sent[-1][0]["etype"] == "BadRequest" and "per_target" in protocol.sent[-1][0]["message"]


def test_unknown_ids_and_no_engines_answer_with_an_error():
    s, registry, _, protocol = session()
    s.message({"op": "call", "rid": 3, "method": "execute", "targets": [9], "args": {"code": "1"}}, [])
    assert protocol.sent == [({"op": "error", "rid": 3, "etype": "InvalidEngineID",
                               "message": "Engine with id 9 is not registered"}, [])]
    assert all(not h.commands for h in registry.engines.values())
    s, _, _, protocol = session(ids=())
    s.message({"op": "queue_status", "rid": 4, "targets": "all"}, [])
    assert protocol.sent[0][0]["etype"] == "NoEnginesRegistered"
    assert str(Path("/cluster/dir/log")) in protocol.sent[0][0]["message"]


def test_unknown_methods_are_bad_requests_and_unknown_messages_protocol_errors():
    s, _, _, protocol = session()
    s.message({"op": "call", "rid": 1, "method": "run_task", "targets": "all"}, [])
    assert protocol.sent[-1][0]["etype"] == "BadRequest" and "call.method" in protocol.sent[-1][0]["message"]
    s.message({"op": "call", "rid": 2, "method": "kill", "targets": "all", "args": ["x"]}, [])
    assert protocol.sent[-1][0]["etype"] == "BadRequest" and "call.args" in protocol.sent[-1][0]["message"]
    with pytest.raises(ProtocolError):
        s.message({"op": "frobnicate", "rid": 1}, [])
    with pytest.raises(ProtocolError):
        s.message({"op": "get_ids", "rid": "one"}, [])


def test_property_changes_are_announced_before_the_reply():
    s, registry, controller, protocol = session()
    s.message({"op": "call", "rid": 1, "method": "set_properties", "targets": [1, 2]}, [b"x"])
    registry.get(1).answer()
    assert controller.changed == [1] and protocol.sent == []
    registry.get(2).answer(status="error", etype="InvalidProperty")
    assert controller.changed == [1]
    assert len(protocol.sent) == 1


def test_a_killed_engine_that_vanishes_counts_as_killed():
    s, registry, controller, protocol = session()
    s.message({"op": "call", "rid": 1, "method": "kill", "targets": [0, 1], "args": {"controller": False}}, [])
    registry.get(0).answer()
    registry.get(1).answer(status="error", etype="EngineDied", message="gone")
    assert [e["status"] for e in protocol.sent[0][0]["results"]] == ["ok", "ok"]
    assert controller.stops == []


def test_kill_controller_kills_every_engine_then_the_controller_once():
    s, registry, controller, protocol = session()
    s.message({"op": "call", "rid": 1, "method": "kill", "targets": 0, "args": {"controller": True}}, [])
    assert all(len(h.commands) == 1 for h in registry.engines.values())
    for eid in range(3):
        registry.get(eid).answer()
    assert controller.stops == []
    registry.get(3).answer()
    assert controller.stops == ["killed by a client"]
    assert len(protocol.sent[0][0]["results"]) == 4


def test_sessions_are_tracked_until_closed():
    s, _, _, _ = session()
    assert s in s.interface.sessions
    s.closed(None)
    assert s not in s.interface.sessions


def test_a_gathered_answer_too_big_to_send_fails_that_call_alone():
    s, registry, _, protocol = session()

    def encoding_send(header, buffers=()):
        framing.encode(header, buffers)
        protocol.sent.append((header, list(buffers)))

    protocol.send = encoding_send
    s.message({"op": "call", "rid": 1, "method": "execute", "targets": [0, 1], "args": {"code": "x"}}, [])
    for eid in (0, 1):
        registry.get(eid).answer(value="v" * (9 * 2**20))  # together over the header limit
    [(answer, _)] = protocol.sent
    assert answer["rid"] == 1 and answer["etype"] == "MessageSizeError"
    assert "cannot be sent" in answer["message"]
    s.message({"op": "get_ids", "rid": 2}, [])
    assert protocol.sent[-1][0]["value"] == [0, 1, 2, 3]


def _registry_speaking(*protocols):
    """A real registry with an engine for each protocol revision told (None: an engine too old to tell)."""
    registry = EngineRegistry(Clock(), window=10)  # every call is sent at once: none is answered
    for told in protocols:
        registry.register(EngineConnection(), None, {"versions": {} if told is None else {"protocol": told}})
    return registry


def _calls_sent(registry, targets, args):
    s = MultiEngineInterface(registry, FakeController()).open_session(FakeProtocol())
    s.message({"op": "call", "rid": 1, "method": "execute", "targets": targets, "args": args}, [])
    return {eid: registry.get(eid).session.sent[-1]["args"] for eid in (targets if targets != "all" else registry.ids())}


def test_echo_reaches_the_engines_only_when_every_target_speaks_its_revision():
    registry = _registry_speaking("2", "2", None)
    quiet = {"code": "a = 1", "echo": False}
    assert registry.behind == 1
    assert _calls_sent(registry, [0, 1], quiet) == {0: quiet, 1: quiet}
    assert _calls_sent(registry, "all", quiet) == {eid: {"code": "a = 1"} for eid in (0, 1, 2)}  # engine 2 would refuse it
    registry.unregister(registry.get(2), "gone")
    assert registry.behind == 0 and _calls_sent(registry, "all", quiet) == {0: quiet, 1: quiet}
