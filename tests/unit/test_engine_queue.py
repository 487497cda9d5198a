"""An engine's queue on the controller: commands that cannot be sent fail alone."""

from twisted.internet.task import Clock

from kernel.controller.engines import Command, EngineRegistry
from kernel.wire import framing


class EncodingProtocol:
    """Encodes each frame as the real protocol does before writing, and keeps the headers."""

    def __init__(self):
        self.sent = []

    def send(self, header, buffers=()):
        framing.encode(header, buffers)
        self.sent.append(header)


class Session:
    def __init__(self):
        self.protocol = EncodingProtocol()

    def send(self, header, buffers=()):
        self.protocol.send(header, buffers)

    def registered(self, handle):
        pass


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
    assert [h["args"]["code"] for h in session.protocol.sent] == ["a = 1", "b = 2"]
    assert len(handle.inflight) == 2
    assert handle.status()["pending"] == "execute('a = 1')"
