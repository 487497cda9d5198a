"""Engine relays without processes: the controller's end of a link and a relay's, each over an in-memory transport."""

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, capturedLogs, formatEvent
from twisted.python.failure import Failure

from kernel.controller.engines import EngineInterface, EngineRegistry
from kernel.controller.relay import ControllerLink, RelayedEngines
from kernel.controller import relays as relays_module
from kernel.controller.relays import RESTART_WINDOW, RESTARTS, RelayLink, Relays
from kernel.errors import ProtocolError
from kernel.wire import framing, messages

SETUP = messages.RelaySetup.header(swissnum="s", cert_file="/nowhere", preauth_timeout=10.0, preauth_grace=5.0,
                                   preauth_per_peer=100, preauth_max=4096)


class LinkTransport(StringTransport):
    """A link's transport: what was written can be read back as messages."""

    def setTcpNoDelay(self, enabled):
        pass

    def messages(self):
        written = self.value()
        self.clear()
        return framing.FrameDecoder().feed(written)


def controller_end(clock=None):
    clock = clock or Clock()
    registry = EngineRegistry(clock)
    link = RelayLink(0, EngineInterface(registry), clock, SETUP)
    transport = LinkTransport()
    link.makeConnection(transport)
    assert transport.messages() == [(SETUP, [])]
    return link, registry, clock, transport


def from_relay(link, header, buffers=()):
    """Feed ``link`` one message as its relay sends it."""
    link.dataReceived(b"".join(bytes(p) for p in framing.encode(header, list(buffers))))


def from_engines(link, *sent):
    """Feed ``link`` a batch of (conn, header) messages from its relay's engines."""
    from_relay(link, messages.Batch.header(conns=[c for c, _ in sent], headers=[h for _, h in sent],
                                           counts=[0] * len(sent)))


def register(link, conn, clock):
    from_relay(link, messages.Opened.header(conn=conn, peer=f"10.0.0.{conn}:5"))
    from_engines(link, (conn, messages.Register.header(pid=100 + conn, host="h")))


def test_an_engine_through_a_relay_registers_with_the_peer_the_relay_saw():
    link, registry, clock, transport = controller_end()
    register(link, 7, clock)
    [handle] = registry.engines.values()
    assert handle.info["pid"] == 107 and handle.info["peer"] == "10.0.0.7:5"
    clock.advance(0)
    [(forward, parts)] = transport.messages()
    assert forward == messages.Forward.header(conns=[7])
    [(registered, _)] = framing.FrameDecoder().feed(b"".join(bytes(p) for p in parts))
    assert registered["op"] == "registered" and registered["id"] == handle.id


def test_one_frame_sent_to_engines_in_a_row_goes_to_the_relay_once_and_each_engine_keeps_its_order():
    link, registry, clock, transport = controller_end()
    shared, first, second = [b"shared"], [b"first"], [b"second"]
    link.forward(1, first)
    link.forward(1, shared)
    link.forward(2, shared)
    link.forward(3, shared)
    link.forward(2, second)
    link.forward(4, shared)  # the same frame again, but after another: a group of its own
    clock.advance(0)
    sent = [(h["conns"], [bytes(b) for b in buffers]) for h, buffers in transport.messages()]
    assert sent == [([1], [b"first"]), ([1, 2, 3], [b"shared"]), ([2], [b"second"]), ([4], [b"shared"])]


def test_a_drop_goes_after_the_frames_sent_before_it():
    link, registry, clock, transport = controller_end()
    link.forward(1, [b"call"])
    link.drop(1)
    assert [h["op"] for h, _ in transport.messages()] == ["forward", "drop"]


def test_an_engine_that_answers_a_command_it_never_got_is_dropped_alone():
    link, registry, clock, transport = controller_end()
    register(link, 1, clock)
    register(link, 2, clock)
    clock.advance(0)
    transport.messages()
    from_engines(link, (1, messages.Reply.header(cid=12345, status="ok")), (2, messages.Heartbeat.header()),
                 (1, messages.Heartbeat.header()))  # read no more once dropped
    assert [h for h, _ in transport.messages()] == [messages.Drop.header(conn=1)]
    from_relay(link, messages.Closed.header(conn=1, reason="aborted"))
    assert registry.ids() == [1]  # the engine on conn 2 stays


def test_a_closed_connection_unregisters_its_engine_with_the_reason():
    link, registry, clock, transport = controller_end()
    register(link, 1, clock)
    [handle] = registry.engines.values()
    from_relay(link, messages.Closed.header(conn=1, reason="Connection was closed cleanly."))
    assert registry.ids() == [] and not handle.alive


def test_when_a_relay_goes_its_engines_are_unregistered():
    link, registry, clock, transport = controller_end()
    for conn in (1, 2, 3):
        register(link, conn, clock)
    assert len(registry.ids()) == 3
    link.connectionLost(Failure(ConnectionError("gone")))
    assert registry.ids() == []


def test_a_big_frame_arriving_at_the_relay_keeps_its_engine_alive():
    link, registry, clock, transport = controller_end()
    register(link, 1, clock)
    [handle] = registry.engines.values()
    clock.advance(8)
    from_relay(link, messages.Heard.header(conns=[1]))
    assert handle.session.last_heard() == clock.seconds()


class EngineProtocol:
    """An engine's connection in a relay, as its ServerProtocol offers it."""

    def __init__(self):
        self.last_received = 0.0
        self.sent = []
        self.aborted = False

    def peer(self):
        return "127.0.0.1:9"

    def send_encoded(self, parts):
        self.sent.append(parts)

    def abort(self):
        self.aborted = True

    def protocol_error(self, why):
        self.closed_because = why
        self.abort()


def relay_end():
    clock = Clock()
    link = ControllerLink(clock, listening=None)
    link.makeConnection(LinkTransport())
    return link, RelayedEngines(link), clock


def test_a_relay_forwards_the_messages_of_one_turn_as_one_batch_and_its_own_after_them():
    link, engines, clock = relay_end()
    first, second = engines.open_session(EngineProtocol()), engines.open_session(EngineProtocol())
    first.message(messages.Heartbeat.header(), [])
    second.message(messages.Reply.header(cid=3, status="ok"), [b"a", b"b"])
    first.message(messages.Reply.header(cid=4, status="ok"), [b"c"])
    second.closed(Failure(ConnectionError("gone")))  # after what that engine sent before
    [opened, _, batch, closed] = link.transport.messages()
    assert opened[0] == messages.Opened.header(conn=first.conn, peer="127.0.0.1:9")
    header, buffers = batch
    assert header["conns"] == [first.conn, second.conn, first.conn] and header["counts"] == [0, 2, 1]
    assert [h["op"] for h in header["headers"]] == ["hb", "reply", "reply"]
    assert [bytes(b) for b in buffers] == [b"a", b"b", b"c"]
    assert closed[0] == messages.Closed.header(conn=second.conn, reason="gone")
    clock.advance(0)
    assert link.transport.messages() == []  # nothing left to send at the end of the turn


def test_a_relay_splits_a_batch_too_big_for_one_frame(monkeypatch):
    link, engines, clock = relay_end()
    sessions = [engines.open_session(EngineProtocol()) for _ in range(4)]
    link.transport.messages()
    monkeypatch.setattr(framing, "MAX_BUFFERS", 2)
    for session in sessions:
        session.message(messages.Reply.header(cid=1, status="ok"), [b"x"])
    clock.advance(0)
    batches = [h["conns"] for h, _ in link.transport.messages()]
    assert batches == [[s.conn for s in sessions[:2]], [s.conn for s in sessions[2:]]]


def test_a_relay_closes_an_engine_whose_message_alone_is_too_big_to_forward(monkeypatch):
    link, engines, clock = relay_end()
    big, small = EngineProtocol(), EngineProtocol()
    sessions = [engines.open_session(big), engines.open_session(small)]
    link.transport.messages()
    monkeypatch.setattr(framing, "MAX_BUFFERS", 1)
    sessions[0].message(messages.Reply.header(cid=1, status="ok"), [b"x", b"y"])
    sessions[1].message(messages.Reply.header(cid=2, status="ok"), [b"z"])
    clock.advance(0)
    assert [h["conns"] for h, _ in link.transport.messages()] == [[sessions[1].conn]]
    assert big.aborted and "over the 1 limit" in big.closed_because and not small.aborted


def test_a_relay_closes_an_engine_whose_message_breaks_its_declaration_and_forwards_nothing_of_it():
    link, engines, clock = relay_end()
    session = engines.open_session(EngineProtocol())
    link.transport.messages()
    with pytest.raises(ProtocolError, match="reply.cid"):  # ServerProtocol closes the connection on it
        session.message({"op": "reply", "cid": "not an id", "status": "ok"}, [])
    clock.advance(0)
    assert link.transport.messages() == []


def test_a_relay_writes_a_forwarded_frame_to_each_connection_named_and_drops_one():
    link, engines, clock = relay_end()
    protocols = [EngineProtocol() for _ in range(3)]
    sessions = [engines.open_session(p) for p in protocols]
    frame = framing.encode(messages.Bye.header())
    link.dataReceived(b"".join(bytes(p) for p in framing.encode(
        messages.Forward.header(conns=[sessions[0].conn, sessions[2].conn]), frame)))
    assert [len(p.sent) for p in protocols] == [1, 0, 1]
    assert b"".join(bytes(p) for p in protocols[2].sent[0]) == b"".join(frame)
    link.dataReceived(b"".join(framing.encode(messages.Drop.header(conn=sessions[1].conn))))
    assert [p.aborted for p in protocols] == [False, True, False]


def test_a_relay_reports_connections_that_sent_bytes_but_no_whole_message():
    link, engines, clock = relay_end()
    quiet, arriving = EngineProtocol(), EngineProtocol()
    sessions = [engines.open_session(quiet), engines.open_session(arriving)]
    link.transport.messages()
    arriving.last_received = 3.0  # part of a big frame came
    link._report_heard()
    link._report_heard()  # nothing new since: nothing said
    assert [h for h, _ in link.transport.messages()] == [messages.Heard.header(conns=[sessions[1].conn])]


class EndedProcess:
    def __init__(self, number):
        self.number = number


def test_a_relay_that_dies_starts_again_until_it_has_died_too_often(monkeypatch):
    clock = Clock()
    relays = Relays(clock, 2, interface=None)
    started = []

    def spawn(number, listening):
        started.append((number, listening))
        relays.running[number] = EndedProcess(number)

    monkeypatch.setattr(relays, "_spawn", spawn)
    monkeypatch.setattr(relays_module, "bind", lambda port, ip, shared: f"socket on {port}, shared {shared}")
    relays.port, relays.running = 4242, {0: EndedProcess(0), 1: EndedProcess(1)}
    killed = Failure(ConnectionError("killed"))
    with capturedLogs() as events:
        for _ in range(RESTARTS + 1):
            clock.advance(1)
            relays._ended(relays.running[0], killed)
        relays._ended(relays.running[1], killed)
    assert started == [(0, "socket on 4242, shared True")] * RESTARTS + [(1, "socket on 4242, shared True")]
    assert sorted(relays.running) == [1]
    said = [formatEvent(e) for e in events]
    assert "relay 0 exited: killed; its engines reconnect through the others, and it starts again" in said
    assert f"relay 0 exited: killed; it died {RESTARTS} times within 60 s, so it stays down" in said
    clock.advance(RESTART_WINDOW)  # its budget is per relay and per window
    for _ in range(RESTARTS):
        relays._ended(relays.running[1], killed)
    with capturedLogs() as events:
        relays._ended(relays.running[1], killed)
    assert relays.running == {}
    assert [e["log_level"] for e in events][-1] == LogLevel.critical
    assert formatEvent(events[-1]) == "no relay is left to serve the engine port: engines cannot connect"


def test_relays_that_stop_with_the_controller_do_not_start_again():
    relays = Relays(Clock(), 1, interface=None)
    relays.running = {0: EndedProcess(0)}
    relays.stopping = True
    relays._ended(relays.running[0], Failure(ConnectionError("asked to")))
    assert relays.running == {}
