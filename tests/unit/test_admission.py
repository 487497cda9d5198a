"""Caps on unauthenticated connections (kernel.wire.admission), on a Clock, and the server protocol that uses them."""

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.logger import capturedLogs

from kernel.wire.admission import REPORT_INTERVAL, Admission, PeerReports, limit_in_all
from kernel.wire.greeting import greeting
from kernel.wire.protocol import CapabilityTable, ServerFactory
from tests.unit.recording import SWISS, RecordingInterface, TCPStringTransport

GRACE = 5.0


class Aborted:
    def __init__(self):
        self.aborted = False

    def abortConnection(self):
        self.aborted = True


class Peer:
    """What Admission sees of a connection: its transport, to close it."""

    def __init__(self):
        self.transport = Aborted()

    @property
    def closed(self):
        return self.transport.aborted


def admission(per_peer=100, most=1000):
    clock = Clock()
    return Admission(clock, per_peer, most, GRACE), clock


def arrive(gate, host):
    """A connection from ``host`` that ``gate`` lets in, else None."""
    if not gate.admit(host):
        return None
    peer = Peer()
    gate.entered(peer, host)
    return peer


def test_a_thousand_connections_of_one_host_that_authenticate_within_the_grace_all_get_in():
    gate, clock = admission(per_peer=100, most=2000)
    peers = [arrive(gate, "10.0.0.1") for _ in range(1000)]
    clock.advance(GRACE - 1)
    for peer in peers:
        gate.authenticated(peer)
    clock.advance(GRACE)
    assert None not in peers and not any(p.closed for p in peers)
    assert len(gate) == 0 and gate.idle("10.0.0.1") == 0


def test_an_address_keeps_at_most_its_cap_of_idle_connections_and_its_new_ones_still_get_in():
    gate, clock = admission(per_peer=100)
    peers = [arrive(gate, "10.0.0.1") for _ in range(150)]  # all new: let in
    with capturedLogs() as events:
        clock.advance(GRACE)
    assert sum(p.closed for p in peers) == 50 and gate.idle("10.0.0.1") == 100
    assert len(events) == 1  # one line for the 50 closed, not 50
    newcomer = arrive(gate, "10.0.0.1")  # a client of the same host: it may be about to authenticate
    assert newcomer is not None
    gate.authenticated(newcomer)
    clock.advance(GRACE)
    assert not newcomer.closed and gate.held("10.0.0.1") == 100


def test_past_the_cap_in_all_a_new_connection_closes_the_one_idle_longest():
    gate, clock = admission(per_peer=0, most=10)
    first = [arrive(gate, f"10.0.0.{i}") for i in range(10)]
    clock.advance(GRACE)
    newcomer = arrive(gate, "10.0.1.1")
    assert newcomer is not None and first[0].closed and not any(p.closed for p in first[1:])
    assert len(gate) == 10 and gate.held("10.0.0.0") == 0


def test_past_the_cap_in_all_with_none_idle_the_address_holding_most_gives_way_else_the_new_one_is_closed():
    gate, clock = admission(per_peer=3, most=10)
    flood = [arrive(gate, "10.0.0.1") for _ in range(8)]
    others = [arrive(gate, "10.0.0.2"), arrive(gate, "10.0.0.3")]
    client = arrive(gate, "10.0.0.1")  # the flood's address, and its oldest connection makes room
    assert client is not None and flood[0].closed and not any(p.closed for p in flood[1:] + others)
    assert gate.held("10.0.0.1") == 8
    gate = Admission(Clock(), 5, 4, GRACE)  # no address holds more than its cap: nobody gives way
    spread = [arrive(gate, f"10.0.0.{i}") for i in range(4)]
    assert arrive(gate, "10.0.0.9") is None and not any(p.closed for p in spread)


def test_connections_turn_idle_in_the_order_they_came_each_after_its_own_grace():
    gate, clock = admission(per_peer=1)
    early = arrive(gate, "10.0.0.1")
    clock.advance(GRACE / 2)
    late = arrive(gate, "10.0.0.1")
    clock.advance(GRACE / 2)
    assert gate.idle("10.0.0.1") == 1 and not late.closed
    clock.advance(GRACE / 2)
    assert late.closed and not early.closed
    gate.left(late)  # its loss, heard later, changes nothing
    assert gate.idle("10.0.0.1") == 1 and gate.held("10.0.0.1") == 1


def test_refusals_are_logged_a_line_per_address_per_interval_with_a_count():
    clock = Clock()
    reports = PeerReports(clock)
    with capturedLogs() as events:
        for _ in range(500):
            reports.note("10.0.0.1", "over the cap")
        reports.note("10.0.0.2", "unknown swissnum")
        clock.advance(REPORT_INTERVAL)
        clock.advance(REPORT_INTERVAL)
        reports.note("10.0.0.1", "over the cap")
    assert [(e["peer"], e.get("count")) for e in events] == [
        ("10.0.0.1", None), ("10.0.0.2", None), ("10.0.0.1", 499), ("10.0.0.1", None)]
    assert events[2]["why"] == "over the cap (499)"


def test_the_cap_in_all_is_at_most_half_the_open_file_limit():
    assert limit_in_all(4096, files=1024) == 512
    assert limit_in_all(100, files=1024) == 100
    assert limit_in_all(0, files=20000) == 10000


def serving(gate):
    table = CapabilityTable()
    table.add(SWISS, RecordingInterface())
    return ServerFactory(table, gate.clock, gate)


def connect(factory, host="10.0.0.1"):
    protocol = factory.buildProtocol(IPv4Address("TCP", host, 40000))
    if protocol is not None:
        transport = TCPStringTransport(peerAddress=IPv4Address("TCP", host, 40000))
        protocol.makeConnection(transport)
    return protocol


def test_a_connection_counts_until_its_greeting_names_a_known_swissnum():
    gate, clock = admission(per_peer=1)
    factory = serving(gate)
    good, silent, late = connect(factory), connect(factory), connect(factory)
    assert gate.held("10.0.0.1") == 3
    good.dataReceived(greeting(SWISS))
    assert gate.held("10.0.0.1") == 2
    clock.advance(GRACE)  # silent turns idle; late, past the cap of 1, is closed
    assert gate.idle("10.0.0.1") == 1 and late.transport.disconnecting and not silent.transport.disconnecting
    silent.connectionLost(None)
    late.connectionLost(None)
    assert len(gate) == 0


def test_unknown_swissnums_and_garbage_are_logged_per_address_not_per_connection():
    gate, clock = admission()
    factory = serving(gate)
    with capturedLogs() as events:
        for i in range(50):
            connect(factory).dataReceived(greeting("x" * 32) if i % 2 else b"GET / HTTP/1.1\r\n")
    assert len(events) == 1 and events[0]["peer"] == "10.0.0.1"
