"""TCP connections served by the reactor through its public file-descriptor interface.

Twisted's TCP transport is built for one thread: ``write`` only buffers, and
the bytes leave on the reactor's next turn, after an ``epoll_ctl`` (and a
second one after). :class:`SocketTransport` is a transport of our own on
``IReactorFDSet`` (``addReader``/``addWriter``, and ``doRead``/``doWrite``
called back), the interface Twisted offers for exactly this, so that:

- A write goes to the socket at once when nothing of this connection waits
  (the rest waits for the socket to drain, as with Twisted's). A peer starts
  on a message while this side finishes its turn: the controller writes a
  task to SQLite after sending it to an engine, not before.
- Any thread may write, under the connection's :attr:`~SocketTransport.lock`:
  an in-process engine's command thread sends its replies itself, and an
  engine's stand-in thread (``kernel.engine.standin``) serves the
  connection while the reactor's thread runs a long command
  (``read_standing_in``, ``send_standing_in``).
- Reads go into one reused 1 MiB buffer per reactor thread; Twisted's read
  into a fresh ``bytes`` per 64 KiB.

**The lock.** ``lock`` (reentrant) is the connection's, shared by the
layers above (``TLSStream``, ``FramedProtocol``): each takes it in whatever
another thread may call (writing, closing) and in whatever changes what
those calls look at (the loss of the connection, flow control). Bytes read
are handed up without it, so a thread writing a reply never waits for the
reactor's thread to act on a message. With one thread, as in the controller,
nobody waits on it.

The protocol above receives ``dataReceived`` with a view of the shared read
buffer, valid only during the call (``TLSStream`` copies it at once), and
writes ``bytes`` it does not change afterwards.
"""

import errno
import os
import socket
import threading
from collections import deque

from twisted.internet import abstract, address, defer, error
from twisted.internet.interfaces import IConsumer, IListeningPort, IReadDescriptor, IReadWriteDescriptor, ITransport
from twisted.logger import Logger
from twisted.python import threadable
from twisted.python.failure import Failure
from zope.interface import implementer

READ_SIZE = 1 << 20  # bytes per read, into one buffer per reactor thread
HIGH_WATER = 1 << 16  # bytes waiting for the socket past which a streaming producer is paused
SEND_MOST = 1 << 24  # bytes handed to one send() call: the kernel takes what fits anyway
BACKLOG = 1024  # connections the kernel queues for accept(): the engines of a big cluster connect at once
ACCEPT_MOST = 100  # connections accepted per reactor turn
ACCEPT_PAUSE = 0.1  # seconds a listener that cannot accept (out of files) leaves its backlog alone
ACCEPT_FAILED = "cannot accept a connection on port {port}: {e}"  # logged at most each ACCEPT_PAUSE

_inboxes = threading.local()


def _inbox():
    view = getattr(_inboxes, "view", None)
    if view is None:
        view = _inboxes.view = memoryview(bytearray(READ_SIZE))
    return view


def lock_of(transport):
    """The lock of ``transport``'s connection; a new one for transports with none (tests' in-memory ones)."""
    return getattr(transport, "lock", None) or threading.RLock()


def write_buffer_size(transport):
    """Bytes written to ``transport`` that its socket has not taken yet; 0 for transports that do not say."""
    size = getattr(transport, "get_write_buffer_size", None)
    return size() if size is not None else 0


def _address(name):
    """Twisted's address of a socket's name: a TCP (host, port), or a local socket's path ("" for a pair)."""
    if isinstance(name, tuple):
        return address.IPv4Address("TCP", name[0], name[1])
    return address.UNIXAddress(name or None)


@implementer(IReadWriteDescriptor, ITransport, IConsumer)
class SocketTransport:
    """One connected, non-blocking TCP socket and the protocol it serves."""

    def __init__(self, reactor, sock, protocol, peer=None):
        self.reactor = reactor
        self.socket = sock
        self.protocol = protocol
        self.lock = threading.RLock()
        self.connected = True
        self.disconnecting = False  # loseConnection: close once what waits is sent
        self._fd = sock.fileno()
        self._host = _address(sock.getsockname())
        # accept()'s address: getpeername() fails on a connection reset before it was accepted
        self._peer = _address(peer or sock.getpeername())
        self._aborted = False  # abortConnection: nothing more is read or written
        self._waiting = deque()  # memoryviews not yet taken by the socket, in order
        self._waiting_bytes = 0
        self._writing = False  # registered with the reactor for writability
        self._producer = None
        self._producer_paused = False

    def start(self):
        """Connect the protocol and start reading; on the reactor's thread."""
        with self.lock:
            self.protocol.makeConnection(self)
            if self.connected:
                self.reactor.addReader(self)

    # -- IReadWriteDescriptor: the reactor's thread ------------------------------

    def fileno(self):
        return self._fd

    def logPrefix(self):
        return type(self.protocol).__name__

    def doRead(self):
        self._read(self._lose)
        return None

    def doWrite(self):
        with self.lock:
            if not self.connected:
                return None
            if self._aborted:
                self._stop_writing()  # closed on the next turn
                return None
            try:
                if not self._send_waiting():
                    return None
            except OSError as e:
                self._lose(error.ConnectionLost(e.strerror))
                return None
            self._stop_writing()
            if self._producer is not None and self._producer_paused:
                self._producer_paused = False
                self._producer.resumeProducing()
            if self.disconnecting and self._producer is None and not self._waiting:
                self._lose(error.ConnectionDone())
        return None

    def connectionLost(self, reason):
        """The reactor's shutdown, or an exception in doRead/doWrite: close."""
        with self.lock:
            self._lose(reason.value)

    # -- ITransport: any thread, under the lock ------------------------------------

    def write(self, data):
        with self.lock:
            if not self.connected or self.disconnecting or not data:
                return
            view = memoryview(data).cast("B")
            if not self._waiting:
                try:
                    sent = self.socket.send(data if len(view) <= SEND_MOST else view[:SEND_MOST])
                except (BlockingIOError, InterruptedError):
                    sent = 0
                except OSError:
                    sent = 0  # broken: the next read or write finds out and closes
                if sent == len(view):
                    return
                view = view[sent:]
            self._waiting.append(view)
            self._waiting_bytes += len(view)
            self._start_writing()
            if self._producer is not None and not self._producer_paused and self._waiting_bytes > HIGH_WATER:
                self._producer_paused = True
                self._producer.pauseProducing()

    def writeSequence(self, sequence):
        for data in sequence:
            self.write(data)

    def get_write_buffer_size(self):
        """Bytes written that the socket has not taken yet (asyncio's name): a slow reader shows here."""
        return self._waiting_bytes

    def loseConnection(self):
        """Close once every byte written so far is sent (and the producer, if any, is gone)."""
        with self.lock:
            if not self.connected or self.disconnecting:
                return
            self.disconnecting = True
            self._start_writing()  # doWrite closes, on the reactor's next turn, as Twisted's does

    def abortConnection(self):
        """Close now, dropping what waits; the protocol hears of it on the reactor's next turn, as with Twisted's."""
        with self.lock:
            if not self.connected or self._aborted:
                return
            self._aborted = self.disconnecting = True
            self._waiting.clear()
            self._waiting_bytes = 0
        if threadable.isInIOThread():
            self.reactor.callLater(0, self._lose_locked, error.ConnectionAborted())
        else:
            self.reactor.callFromThread(self._lose_locked, error.ConnectionAborted())

    def getPeer(self):
        return self._peer

    def getHost(self):
        return self._host

    def setTcpNoDelay(self, enabled):
        if self.socket.family != socket.AF_UNIX:  # a local socket sends at once anyway
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(enabled))

    # -- for a thread standing in for a busy reactor's (kernel.engine.standin) -------------

    def read_standing_in(self):
        """``doRead``, from a thread serving the connection while the reactor's thread is busy; False
        once the connection is found lost (the reactor's thread closes it on its next turn)."""
        return self._read(self._lose_on_reactor)

    def send_standing_in(self):
        """Send what waits, as ``doWrite`` would; False once the connection is found lost (as above).
        The reactor's thread unregisters its interest in writing on its next ``doWrite``."""
        with self.lock:
            if not self.connected or self._aborted:
                return False
            try:
                self._send_waiting()
            except OSError as e:
                self._lose_on_reactor(error.ConnectionLost(e.strerror))
                return False
        return True

    # -- IConsumer ---------------------------------------------------------------------

    def registerProducer(self, producer, streaming):
        if not streaming:
            raise ValueError("SocketTransport takes streaming (push) producers only")
        with self.lock:
            if self._producer is not None:
                raise RuntimeError(f"a producer is already registered: {self._producer!r}")
            if not self.connected:
                producer.stopProducing()
                return
            self._producer = producer
            self._producer_paused = self._waiting_bytes > HIGH_WATER
            if self._producer_paused:
                producer.pauseProducing()

    def unregisterProducer(self):
        with self.lock:
            self._producer = None
            self._producer_paused = False
            if self.disconnecting and self.connected:
                self._start_writing()

    # -- inside -------------------------------------------------------------------------

    def _read(self, lose):
        """One read into this thread's buffer, handed up; False once the connection is found lost
        (``lose(why)`` was told of it)."""
        with self.lock:
            if not self.connected or self._aborted:
                return False
            inbox = _inbox()
            try:
                got = self.socket.recv_into(inbox)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError as e:
                lose(error.ConnectionLost(e.strerror))
                return False
            if not got:
                lose(error.ConnectionDone())
                return False
        self.protocol.dataReceived(inbox[:got])  # without the lock: a writer need not wait for it
        return True

    def _send_waiting(self):
        """Send what waits until the socket is full; True once nothing waits. OSError if the connection broke."""
        while self._waiting:
            head = self._waiting[0]
            try:
                sent = self.socket.send(head[:SEND_MOST])
            except (BlockingIOError, InterruptedError):
                return False
            self._waiting_bytes -= sent
            if sent == len(head):
                self._waiting.popleft()
            else:
                self._waiting[0] = head[sent:]
                return False
        return True

    def _start_writing(self):
        if not self._writing:
            self._writing = True
            if threadable.isInIOThread():
                self.reactor.addWriter(self)
            else:
                self.reactor.callFromThread(self._register_writer)

    def _register_writer(self):
        with self.lock:
            if self.connected and self._writing:
                self.reactor.addWriter(self)

    def _stop_writing(self):
        if self._writing:
            self._writing = False
            self.reactor.removeWriter(self)

    def _lose_locked(self, reason):
        with self.lock:
            self._lose(reason)

    def _lose_on_reactor(self, reason):
        """Lose the connection on the reactor's next turn; from a thread standing in for it."""
        self.reactor.callFromThread(self._lose_locked, reason)

    def _lose(self, reason):
        """Unregister, close and tell the protocol; once. On the reactor's thread, under the lock."""
        if not self.connected:
            return
        self.connected = False
        self.reactor.removeReader(self)
        self.reactor.removeWriter(self)
        self._writing = False
        self._waiting.clear()
        self._waiting_bytes = 0
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.socket.close()
        self._fd = -1
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.stopProducing()
        protocol, self.protocol = self.protocol, None
        protocol.connectionLost(Failure(reason))


@implementer(IReadWriteDescriptor)
class _Connecting:
    """A socket whose connect() is under way: writable once it is done, one way or the other."""

    def __init__(self, reactor, sock, factory, destination, timeout):
        self.reactor = reactor
        self.socket = sock
        self.factory = factory
        self.destination = destination
        self.deferred = defer.Deferred(lambda d: self._fail(defer.CancelledError()))
        self._fd = sock.fileno()
        self._finished = False
        self._timeout = reactor.callLater(timeout, self._fail, error.TimeoutError(
            string=f"connecting to {destination[0]}:{destination[1]} took more than {timeout:g} s"))

    def fileno(self):
        return self._fd

    def logPrefix(self):
        return "connecting"

    def doRead(self):
        return None

    def doWrite(self):
        code = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._fail(_connect_error(code))
        else:
            self._done()
        return None

    def connectionLost(self, reason):
        """The reactor's shutdown, or the socket's error or hang-up (a refused connect, say)."""
        code = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if self.socket.fileno() != -1 else 0
        self._fail(_connect_error(code) if code else reason.value)

    def _finish(self):
        """Stop watching the socket; False if that was done already."""
        if self._finished:
            return False
        self._finished = True
        self.reactor.removeWriter(self)
        if self._timeout.active():
            self._timeout.cancel()
        return True

    def _done(self):
        if not self._finish():
            return
        protocol = self.factory.buildProtocol(_address(self.destination))
        if protocol is None:
            self.socket.close()
            self.deferred.errback(error.ConnectError(string="the factory built no protocol"))
            return
        transport = SocketTransport(self.reactor, self.socket, protocol, self.destination)
        transport.start()
        self.deferred.callback(protocol)

    def _fail(self, reason):
        if not self._finish():
            return
        self.socket.close()
        if not self.deferred.called:
            self.deferred.errback(Failure(reason))


def _connect_error(code):
    """The error Twisted's own TCP client gives for a failed connect(): ConnectionRefusedError, say."""
    return error.getConnectError((code, os.strerror(code)))


def connect(reactor, host, port, factory, timeout=30.0):
    """Connect to ``host:port`` (an IPv4 address, or a name the reactor resolves).

    A Deferred that fires with the protocol ``factory`` built once it is
    connected, or fails with Twisted's connection errors (refused, timed out,
    no such host).
    """
    d = reactor.resolve(host) if not abstract.isIPAddress(host) else defer.succeed(host)
    return d.addCallback(lambda ip: _connect_to(reactor, ip, port, factory, timeout))


def _connect_to(reactor, ip, port, factory, timeout):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    code = sock.connect_ex((ip, port))
    if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
        sock.close()
        return defer.fail(_connect_error(code))
    connecting = _Connecting(reactor, sock, factory, (ip, port), timeout)
    reactor.addWriter(connecting)
    return connecting.deferred


@implementer(IReadDescriptor, IListeningPort)
class _Listening:
    """A listening socket: each connection accepted gets a SocketTransport and a protocol from ``factory``."""

    log = Logger()

    def __init__(self, reactor, sock, factory):
        self.reactor = reactor
        self.socket = sock
        self.factory = factory
        self._fd = sock.fileno()
        self._host = _address(sock.getsockname())
        self._resume = None  # the call that accepts again after a failed accept()

    def fileno(self):
        return self._fd

    def logPrefix(self):
        return type(self.factory).__name__

    def startListening(self):
        self.factory.doStart()
        self.reactor.addReader(self)

    def stopListening(self):
        if self._resume is not None and self._resume.active():
            self._resume.cancel()
        if self._fd != -1:
            self.reactor.removeReader(self)
            self.socket.close()
            self._fd = -1
            self.factory.doStop()
        return defer.succeed(None)

    def getHost(self):
        return self._host

    def doRead(self):
        for _ in range(ACCEPT_MOST):
            try:
                sock, peer = self.socket.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return None
            except OSError as e:
                self.log.error(ACCEPT_FAILED, port=self._host.port, e=e)
                self._pause()
                return None
            sock.setblocking(False)
            protocol = self.factory.buildProtocol(_address(peer))
            if protocol is None:
                sock.close()
                continue
            SocketTransport(self.reactor, sock, protocol, peer).start()
        return None

    def _pause(self):
        """Out of file descriptors, say: the socket stays readable, so stop watching it a moment.

        Else every reactor turn would try (and log) again at once. The
        connections wait in the backlog meanwhile.
        """
        self.reactor.removeReader(self)
        self._resume = self.reactor.callLater(ACCEPT_PAUSE, self._accept_again)

    def _accept_again(self):
        self._resume = None
        if self._fd != -1:
            self.reactor.addReader(self)

    def connectionLost(self, reason):
        self.stopListening()


def bind(port, interface="", shared=False):
    """A listening TCP socket on ``interface:port`` (``""``: every IPv4 address; port 0: any free one).

    ``shared``: other sockets bound so may listen on the same port, each in its own process, and the
    kernel spreads new connections among them (``SO_REUSEPORT``): the controller's engine relays.
    Raises Twisted's CannotListenError.
    """
    if shared and not hasattr(socket, "SO_REUSEPORT"):
        raise error.CannotListenError(interface, port, OSError(
            "this system cannot share a port between processes (it has no SO_REUSEPORT): run without relays"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restarted controller takes its port back
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((interface, port))
        sock.listen(BACKLOG)
    except OSError as e:
        sock.close()
        raise error.CannotListenError(interface, port, e) from e
    sock.setblocking(False)
    return sock


def serve(reactor, sock, factory):
    """Accept connections on the listening socket ``sock`` for ``factory``; returns the IListeningPort."""
    listening = _Listening(reactor, sock, factory)
    listening.startListening()
    return listening


def listen(reactor, port, factory, interface=""):
    """Listen on ``interface:port``, as ``listenTCP``; returns the IListeningPort."""
    return serve(reactor, bind(port, interface), factory)
