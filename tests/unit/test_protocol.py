"""The capability greeting and session dispatch, one-sided with StringTransport."""

from twisted.internet.task import Clock

from kernel import versions
from kernel.wire import framing
from kernel.wire.greeting import greeting
from kernel.wire.protocol import CapabilityTable, ServerProtocol
from tests.unit.recording import SWISS, RecordingInterface, TCPStringTransport


def connect():
    interface = RecordingInterface()
    table = CapabilityTable()
    table.add(SWISS, interface)
    clock = Clock()
    protocol = ServerProtocol(table, clock, preauth_timeout=10)
    transport = TCPStringTransport()
    protocol.makeConnection(transport)
    return protocol, transport, clock, interface


def frames_written(transport, clock):
    clock.advance(0)
    return framing.FrameDecoder().feed(transport.value())


def test_known_swissnum_opens_its_interface_byte_at_a_time():
    protocol, transport, clock, interface = connect()
    data = greeting(SWISS) + b"".join(framing.encode({"op": "hi", "x": 1}, [b"abc"]))
    for i in range(len(data)):
        protocol.dataReceived(data[i:i + 1])
    [(welcome, _)] = frames_written(transport, clock)
    assert welcome == {"op": "welcome", "interface": "test", "versions": versions.local()}
    assert interface.sessions[0].messages == [({"op": "hi", "x": 1}, [b"abc"])]


def test_unknown_swissnum_is_told_no_such_capability_and_closed():
    protocol, transport, clock, interface = connect()
    protocol.dataReceived(greeting("x" * 32))
    [(refused, _)] = frames_written(transport, clock)
    assert refused == {"op": "refused", "error": "no such capability"}
    assert transport.disconnecting
    assert interface.sessions == []


def test_garbage_before_the_greeting_aborts_without_buffering():
    protocol, transport, clock, interface = connect()
    protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert transport.disconnecting or transport.disconnected
    assert transport.value() == b""


def test_silent_peer_is_dropped_after_the_preauth_timeout():
    protocol, transport, clock, interface = connect()
    protocol.dataReceived(b"KRN")
    clock.advance(9)
    assert not (transport.disconnecting or transport.disconnected)
    clock.advance(2)
    assert transport.disconnecting or transport.disconnected


def test_oversized_frame_after_auth_closes_only_that_connection():
    protocol, transport, clock, interface = connect()
    protocol.dataReceived(greeting(SWISS))
    big = b"".join(framing.encode({"op": "big"}, [b"x" * 5000]))
    protocol.dataReceived(big)
    assert transport.disconnecting or transport.disconnected
    assert interface.sessions[0].messages == []


def test_small_frames_go_straight_out_in_order_and_big_ones_in_chunks():
    protocol, transport, clock, interface = connect()
    protocol.dataReceived(greeting(SWISS))
    clock.advance(0)
    transport.clear()
    for i in range(50):
        protocol.send({"op": "m", "i": i})
    assert [h["i"] for h, _ in framing.FrameDecoder().feed(transport.value())] == list(range(50))
    transport.clear()
    big = b"x" * (9 << 20)  # more than two write chunks
    protocol.send({"op": "big"}, [big])
    protocol.send({"op": "after"})  # queued behind the big frame, not overtaking it
    assert transport.value() == b""
    clock.advance(0)  # written a chunk per turn (the clock runs the turns back to back)
    [(h1, [b1]), (h2, _)] = framing.FrameDecoder().feed(transport.value())
    assert h1["op"] == "big" and bytes(b1) == big and h2["op"] == "after"


def test_capability_table_lookup():
    table = CapabilityTable()
    a, b = object(), object()
    table.add("a" * 32, a)
    table.add("b" * 32, b)
    assert table.lookup("a" * 32) is a and table.lookup("b" * 32) is b
    assert table.lookup("c" * 32) is None


def test_a_transport_that_pauses_on_the_last_chunk_does_not_stall_later_frames():
    protocol, transport, clock, interface = connect()
    protocol.dataReceived(greeting(SWISS))
    clock.advance(0)
    transport.clear()
    write = transport.writeSequence

    def write_then_fill_up(seq):  # the transport's buffer fills with every big write
        write(seq)
        protocol.pauseProducing()

    transport.writeSequence = write_then_fill_up
    protocol.send({"op": "big"}, [b"x" * (5 << 20)])
    clock.advance(0)  # first chunk, then paused
    protocol.resumeProducing()
    clock.advance(0)  # the rest, and paused again as the producer is unregistered
    protocol.send({"op": "hb"})  # e.g. a heartbeat: it must not wait for a resume that never comes
    clock.advance(0)
    ops = [h["op"] for h, _ in framing.FrameDecoder().feed(transport.value())]
    assert ops == ["big", "hb"]
