"""SocketTransport, connect and listen: real sockets on 127.0.0.1, the reactor running in a thread."""

import socket
import threading

import pytest
from twisted.internet import defer, error
from twisted.internet.interfaces import IConsumer, IReadWriteDescriptor, ITransport
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.threads import blockingCallFromThread
from zope.interface.verify import verifyObject

from kernel.wire import framing, transport
from kernel.wire.protocol import FramedProtocol
from tests.harness import wait_for
from tests.harness.inprocess import running_reactor

BIG = 8 * 1024 * 1024  # more than loopback's socket buffers hold: some of it waits in the transport


class Recorder(Protocol):
    """Counts what arrives, keeps it if asked, and remembers why the connection ended."""

    def __init__(self, keep=True):
        self.keep = keep
        self.chunks = []
        self.count = 0
        self.lost = None

    def dataReceived(self, data):
        self.count += len(data)
        if self.keep:
            self.chunks.append(bytes(data))  # the transport's buffer is reused after the call

    def connectionLost(self, reason):
        self.lost = reason

    @property
    def received(self):
        return b"".join(self.chunks)


class Echo(Recorder):
    def dataReceived(self, data):
        super().dataReceived(data)
        self.transport.write(bytes(data))


@pytest.fixture(scope="module")
def reactor():
    return running_reactor()


def on_reactor(reactor, f, *args):
    """Run ``f`` on the reactor's thread and return its result (a Deferred's, once it fires)."""
    return blockingCallFromThread(reactor, lambda: defer.maybeDeferred(f, *args))


def connected(reactor, server_class, client_class=Recorder):
    """A listening port, a connection to it, and what each end built: (port, client, server)."""
    servers = []

    def build():
        servers.append(server_class())
        return servers[-1]

    port = on_reactor(reactor, transport.listen, reactor, 0, Factory.forProtocol(build), "127.0.0.1")
    client = on_reactor(reactor, transport.connect, reactor, "127.0.0.1", port.getHost().port,
                        Factory.forProtocol(client_class))
    wait_for(lambda: servers, what="the connection to be accepted")
    return port, client, servers[0]


@pytest.fixture
def connect(reactor):
    """``connect(server_class)``: (client, server) over real sockets, closed after the test."""
    made = []

    def make(server_class):
        made.append(connected(reactor, server_class))
        return made[-1][1:]

    yield make
    for port, *protocols in made:
        for protocol in protocols:
            if protocol.lost is None:
                on_reactor(reactor, protocol.transport.abortConnection)
        on_reactor(reactor, port.stopListening)


def test_bytes_written_from_any_thread_arrive_and_come_back(reactor, connect):
    client, server = connect(Echo)
    on_reactor(reactor, client.transport.write, b"from the reactor's thread, ")
    client.transport.write(b"and from another")  # under the connection's lock, straight to the socket
    expected = b"from the reactor's thread, and from another"
    wait_for(lambda: client.received == expected, what="the echo")
    assert server.received == expected
    for interface in (ITransport, IConsumer, IReadWriteDescriptor):
        assert verifyObject(interface, client.transport)
    assert client.transport.getPeer().port == server.transport.getHost().port


def test_lose_connection_sends_everything_written_then_closes_both_sides(reactor, connect):
    client, server = connect(lambda: Recorder(keep=False))

    def write_then_close():
        client.transport.write(b"x" * BIG)
        client.transport.loseConnection()
        client.transport.write(b"too late")  # dropped: the connection is closing

    on_reactor(reactor, write_then_close)
    wait_for(lambda: client.lost is not None and server.lost is not None, what="both sides to close")
    assert client.lost.check(error.ConnectionDone) and server.lost.check(error.ConnectionDone)
    assert server.count == BIG


def test_abort_drops_what_waits_and_is_heard_on_a_later_turn(reactor, connect):
    client, server = connect(lambda: Recorder(keep=False))
    heard_at_once = []

    def abort():
        client.transport.write(b"x" * BIG)
        client.transport.abortConnection()
        heard_at_once.append(client.lost)

    on_reactor(reactor, abort)
    assert heard_at_once == [None]  # not from inside the caller's own call, as with Twisted's
    wait_for(lambda: client.lost is not None and server.lost is not None, what="both sides to close")
    assert client.lost.check(error.ConnectionAborted)


class Producer:
    """A streaming producer that records pauses and resumes."""

    def __init__(self):
        self.events = []

    def pauseProducing(self):
        self.events.append("pause")

    def resumeProducing(self):
        self.events.append("resume")

    def stopProducing(self):
        self.events.append("stop")


def test_a_producer_is_paused_while_the_socket_is_full_and_resumed_once_it_drains(reactor):
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        client = on_reactor(reactor, transport.connect, reactor, "127.0.0.1", listener.getsockname()[1],
                            Factory.forProtocol(Recorder))
        peer, _ = listener.accept()  # reads nothing until told to
        producer = Producer()

        def fill():
            client.transport.registerProducer(producer, True)
            client.transport.write(b"x" * BIG)

        on_reactor(reactor, fill)
        assert producer.events == ["pause"]
        received = 0
        while received < BIG:
            received += len(peer.recv(1 << 20))
        wait_for(lambda: producer.events == ["pause", "resume"], what="the producer to be resumed")
        on_reactor(reactor, client.transport.unregisterProducer)
        on_reactor(reactor, client.transport.abortConnection)
        wait_for(lambda: client.lost is not None, what="the connection to close")
        peer.close()
    finally:
        listener.close()


def test_connecting_to_a_closed_port_fails_with_connection_refused(reactor):
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(error.ConnectionRefusedError):
        on_reactor(reactor, transport.connect, reactor, "127.0.0.1", port, Factory.forProtocol(Recorder))


def test_listening_on_a_busy_port_raises_cannot_listen_naming_it(reactor):
    busy = socket.create_server(("127.0.0.1", 0))
    port = busy.getsockname()[1]
    try:
        with pytest.raises(error.CannotListenError) as e:
            on_reactor(reactor, transport.listen, reactor, port, Factory.forProtocol(Recorder), "127.0.0.1")
        assert str(port) in str(e.value)
    finally:
        busy.close()


class Frames(FramedProtocol):
    """Sends and receives frames, and keeps the headers that arrive."""

    def __init__(self, clock):
        self.clock = clock
        self.headers = []
        self.lost = None

    def connectionMade(self):
        super().connectionMade()
        self._decoder = framing.FrameDecoder()

    def dataReceived(self, data):
        self._feed(data)

    def message(self, header, buffers):
        self.headers.append(header["n"])

    def connectionLost(self, reason):
        super().connectionLost(reason)
        self.lost = reason


@pytest.fixture
def frames(reactor):
    port, client, server = connected(reactor, lambda: Frames(reactor), lambda: Frames(reactor))
    yield client, server
    if client.lost is None:
        on_reactor(reactor, client.transport.abortConnection)
    on_reactor(reactor, port.stopListening)


def test_a_small_frame_from_another_thread_waits_behind_a_big_one_the_reactor_is_writing(reactor, frames):
    client, server = frames
    sent = threading.Event()

    def big_then_small_from_another_thread():
        client.send({"op": "x", "n": 1}, [b"x" * (3 * framing.SMALL + BIG)])  # written a chunk per turn
        thread = threading.Thread(target=lambda: (client.send_from_thread({"op": "x", "n": 2}), sent.set()))
        thread.start()
        thread.join()  # the lock is free: the big frame waits in the protocol's queue, not under it

    on_reactor(reactor, big_then_small_from_another_thread)
    assert sent.is_set()
    wait_for(lambda: len(server.headers) == 2, what="both frames")
    assert server.headers == [1, 2]


def test_a_frame_sent_from_another_thread_after_the_connection_is_lost_is_dropped(reactor, frames):
    client, server = frames
    on_reactor(reactor, client.transport.abortConnection)
    wait_for(lambda: client.lost is not None, what="the connection to close")
    client.send_from_thread({"op": "x", "n": 1})  # no error: the reply's connection is gone
    assert server.headers == []
