"""The listener under abuse: a connection reset before accept(), and accept() failing (out of files).

Real sockets on 127.0.0.1, a MemoryReactorClock as the reactor: each turn of
the listener is a call to its ``doRead``.
"""

import errno
import select
import socket
import struct

import pytest
from twisted.internet import error
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import capturedLogs
from twisted.python.failure import Failure

from kernel.wire import transport


class Built(Protocol):
    def __init__(self, made):
        self.made = made

    def connectionMade(self):
        self.made.append(self)


def listening():
    reactor = MemoryReactorClock()
    made = []
    port = transport.listen(reactor, 0, Factory.forProtocol(lambda: Built(made)), "127.0.0.1")
    return reactor, port, made


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port.getHost().port))
    select.select([port.socket], [], [], 5)  # queued for accept()
    return sock


def close(made, port):
    for protocol in made:
        protocol.transport.connectionLost(Failure(error.ConnectionDone()))  # as at the reactor's shutdown
    port.stopListening()


def reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # an RST, not a FIN


def test_a_connection_reset_before_it_is_accepted_leaves_the_listener_accepting():
    reactor, port, made = listening()
    try:
        reset(connect(port))
        port.doRead()  # accept() returns it, with its address, though getpeername() would fail now
        assert port in reactor.readers
        good = connect(port)
        port.doRead()
        assert made[-1].transport.getPeer().port == good.getsockname()[1]
        good.close()
    finally:
        close(made, port)


class OutOfFiles:
    """A listening socket whose accept() fails as when the process has no file descriptor left."""

    def __init__(self, sock):
        self.sock = sock

    def fileno(self):
        return self.sock.fileno()

    def accept(self):
        raise OSError(errno.EMFILE, "Too many open files")

    def close(self):
        self.sock.close()


def test_a_failed_accept_pauses_the_listener_instead_of_failing_again_every_turn():
    reactor, port, made = listening()
    real = port.socket
    port.socket = OutOfFiles(real)
    waiting = connect(port)
    try:
        with capturedLogs() as events:
            port.doRead()
        assert [e["log_format"] for e in events] == [transport.ACCEPT_FAILED]
        assert port not in reactor.readers  # the socket stays readable: watched, it would spin the reactor
        reactor.advance(transport.ACCEPT_PAUSE)
        assert port in reactor.readers
        port.socket = real  # files to spare again: the connection waited in the backlog
        port.doRead()
        assert len(made) == 1
    finally:
        waiting.close()
        close(made, port)


def test_stopping_a_paused_listener_cancels_its_return():
    reactor, port, _ = listening()
    port.socket = OutOfFiles(port.socket)
    waiting = connect(port)
    port.doRead()
    port.stopListening()
    waiting.close()
    assert reactor.getDelayedCalls() == [] and port not in reactor.readers


def test_a_shared_port_refuses_an_unshared_listener_and_a_system_without_sharing_says_so(monkeypatch):
    first = transport.bind(0, "127.0.0.1", shared=True)
    port = first.getsockname()[1]
    second = transport.bind(port, "127.0.0.1", shared=True)  # a relay's beside the first
    try:
        with pytest.raises(error.CannotListenError):
            transport.bind(port, "127.0.0.1")  # unshared: refused while relays hold the port
    finally:
        first.close()
        second.close()
    monkeypatch.delattr(socket, "SO_REUSEPORT")
    with pytest.raises(error.CannotListenError, match="no SO_REUSEPORT.*run without relays"):
        transport.bind(0, "127.0.0.1", shared=True)
