"""An engine's queue on the controller: commands that cannot be sent fail alone."""

from twisted.internet.task import Clock

from kernel.controller.engines import Command, EngineRegistry, share_frame
from tests.unit.recording import EngineConnection as Session


def test_a_command_too_big_to_encode_fails_alone_and_frees_its_slot():
    registry = EngineRegistry(Clock(), window=2)
    session = Session()
    handle = registry.register(session, None, {})
    done = []
    huge = "é" * 3_000_000  # 18 MB once JSON escapes it: over the header limit
    for code in (huge, "a = 1", "b = 2"):
        handle.submit(Command("execute", {"code": code}, [], lambda eid, header, buffers: done.append(header)))
    [failed] = done
    assert failed["etype"] == "MessageSizeError" and "cannot be sent to engine 0" in failed["message"]
    assert len(failed["message"]) < 500  # the code is not quoted whole
    assert [h["args"]["code"] for h in session.sent] == ["a = 1", "b = 2"]
    assert len(handle.inflight) == 2
    assert handle.status()["pending"] == "execute('a = 1')"


def ignore(eid, header, buffers):
    pass


def test_a_call_to_several_engines_is_encoded_once_with_one_cid():
    registry = EngineRegistry(Clock())
    sessions = [Session() for _ in range(3)]
    for session in sessions:
        registry.register(session, None, {})
    commands = [Command("execute", {"code": "a = 1"}, [], ignore) for _ in sessions]
    share_frame(commands)
    for eid, command in zip(registry.ids(), commands):
        registry.get(eid).submit(command)
    first, second, third = (session.frames[-1] for session in sessions)
    assert first is second is third
    assert len({session.sent[-1]["cid"] for session in sessions}) == 1


def test_each_engine_gets_its_commands_in_the_order_of_their_cids():
    registry = EngineRegistry(Clock(), window=1)
    session = Session()
    handle = registry.register(session, None, {})
    running, queued = Command("execute", {"code": "1"}, [], ignore), Command("execute", {"code": "2"}, [], ignore)
    handle.submit(running)
    handle.submit(queued)  # waits for a slot, its cid already given
    shared = [Command("execute", {"code": "3"}, [], ignore), Command("execute", {"code": "3"}, [], ignore)]
    share_frame(shared)
    handle.submit(shared[0])
    for command in (running, queued, shared[0]):
        handle.done({"op": "reply", "cid": command.cid, "status": "ok"}, [])
    cids = [h["cid"] for h in session.sent if h["op"] == "call"]
    assert [h["args"]["code"] for h in session.sent if h["op"] == "call"] == ["1", "2", "3"]
    assert cids == sorted(cids) and len(set(cids)) == 3


def test_a_call_too_big_for_any_engine_fails_at_each_alone():
    registry = EngineRegistry(Clock())
    sessions = [Session() for _ in range(2)]
    for session in sessions:
        registry.register(session, None, {})
    done = []
    huge = "é" * 3_000_000
    commands = [Command("execute", {"code": huge}, [], lambda eid, header, buffers: done.append(eid))
                for _ in sessions]
    share_frame(commands)
    for eid, command in zip(registry.ids(), commands):
        registry.get(eid).submit(command)
    assert sorted(done) == [0, 1]
    assert all(not session.frames for session in sessions)  # nothing went out
