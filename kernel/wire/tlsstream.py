"""TLS for Twisted connections, on the standard library's ``ssl`` module.

Twisted's own TLS layer goes through pyOpenSSL, which hands OpenSSL one
16 KiB record per call and copies every record through a cffi buffer: on a
bulk transfer the controller spent most of its time there. Here the stdlib's
``SSLObject`` encrypts a whole chunk in one call, straight from the caller's
memory, into a memory BIO whose bytes go to the TCP transport as they are.

``TLSStream`` sits between Twisted's TCP transport and a protocol, and is that
protocol's transport. A protocol that has ``get_buffer()``/``buffer_updated(n)``
(as asyncio's BufferedProtocol) gets big payloads decrypted straight into
the buffer it names. The wrapped protocol is connected at once, as with
Twisted's TLS, so its timers (the pre-auth timeout) also bound a handshake
that never ends; what it writes before the handshake is done waits.
"""

import ssl
import threading

from twisted.internet import main, tcp
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

READ_SIZE = 1 << 16  # a record holds at most 16 KiB; this leaves slack
TCP_READ_SIZE = 1 << 20  # bytes per read from a socket, into one buffer per reactor thread

_inboxes = threading.local()  # one receive buffer per reactor thread, shared by its connections


def _inbox():
    view = getattr(_inboxes, "view", None)
    if view is None:
        view = _inboxes.view = memoryview(bytearray(TCP_READ_SIZE))
    return view


def _send_now(transport, data):
    """Send what the socket takes of ``data`` now, if nothing of ours waits in ``transport``; how much went.

    A plain ``transport.write`` waits for the next reactor turn and costs two
    ``epoll_ctl`` calls besides; sending at once also lets the peer start on
    a message while this side finishes its turn. Only an idle TCP transport
    is bypassed, so the bytes keep their order; its buffer is read from the
    attributes Twisted's FileDescriptor keeps it in (any transport without
    them, an in-memory one in tests say, is always written to).
    """
    if getattr(transport, "dataBuffer", True) or getattr(transport, "_tempDataBuffer", True):
        return 0
    if transport.disconnecting or not transport.connected:
        return 0
    try:
        return transport.getHandle().send(data)
    except OSError:  # full (the rest waits in the transport), or broken (the transport finds out)
        return 0


class TLSStream(Protocol):
    """One TLS connection over a TCP transport; the transport of ``wrapped``.

    ``check_peer(der_certificate)`` runs once the handshake is done and
    returns an exception to refuse the peer (the client's key pin), or None.
    """

    def __init__(self, wrapped, context, server_side, check_peer=None):
        self.wrapped = wrapped
        self._context = context
        self._server_side = server_side
        self._check_peer = check_peer
        self._ready = False
        self._closing = False
        self._lost = False
        self._pending = []
        self._failure = None

    # -- from the TCP transport ------------------------------------------------

    def connectionMade(self):
        if isinstance(self.transport, tcp.Connection):
            self._socket = self.transport.getHandle()
            self.transport.doRead = self._read_socket
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = self._context.wrap_bio(self._incoming, self._outgoing, server_side=self._server_side)
        self.wrapped.makeConnection(self)
        self._handshake()

    def _read_socket(self):
        """The TCP transport's ``doRead``, receiving into this thread's one buffer.

        Twisted's own reads into a fresh ``bytes`` of the read size: past
        glibc's map threshold that is a memory map made and unmade per read,
        and below it more reads per megabyte. What arrives is copied into the
        TLS object at once, so one buffer serves every connection.
        """
        inbox = _inbox()
        try:
            got = self._socket.recv_into(inbox)
        except BlockingIOError:
            return None
        except OSError:
            return main.CONNECTION_LOST
        if not got:
            return main.CONNECTION_DONE
        self.dataReceived(inbox[:got])
        return None

    def dataReceived(self, data):
        if self._lost or (self._closing and self._ready):
            return
        self._incoming.write(data)
        if not self._ready:
            self._handshake()
        if self._ready:
            self._read_all()

    def connectionLost(self, reason):
        self._lost = True
        self._pending = []
        wrapped, self.wrapped = self.wrapped, None
        if wrapped is not None:
            wrapped.connectionLost(self._failure or reason)

    def _handshake(self):
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            self._send_out()
            return
        except ssl.SSLError as e:
            self._send_out()  # the alert that tells the peer why
            self._fail(e)
            return
        self._send_out()
        if self._check_peer is not None:
            refused = self._check_peer(self._tls.getpeercert(binary_form=True))
            if refused is not None:
                self._fail(refused)
                return
        self._ready = True
        pending, self._pending = self._pending, []
        for data in pending:
            self.write(data)
        if self._closing:
            self._closing = False
            self.loseConnection()

    def _read_all(self):
        get_buffer = getattr(self.wrapped, "get_buffer", None)
        while not self._lost and self.wrapped is not None:
            target = get_buffer() if get_buffer is not None else None
            try:
                if target is not None:
                    got = self._tls.read(len(target), target)  # straight into place
                else:
                    got = self._tls.read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # the peer's close_notify
                self.transport.loseConnection()
                break
            except ssl.SSLError as e:
                self._fail(e)
                return
            if not got:
                break
            if target is not None:
                self.wrapped.buffer_updated(got)
            else:
                self.wrapped.dataReceived(got)
            if not self._incoming.pending and not self._tls.pending():
                break  # all read: another read would only raise SSLWantReadError
        self._send_out()  # what reading produced: key updates, tickets

    def _send_out(self):
        data = self._outgoing.read()
        if data and not self._lost:
            sent = _send_now(self.transport, data)
            if sent < len(data):
                self.transport.write(data[sent:] if sent else data)

    def _fail(self, error):
        self._failure = Failure(error)
        self._lost_soon()

    def _lost_soon(self):
        if not self._lost:
            self.transport.abortConnection()

    # -- the wrapped protocol's transport ---------------------------------------

    def write(self, data):
        if self._lost or self._failure is not None or (self._closing and self._ready):
            return  # after loseConnection nothing more goes out (the close_notify is sent)
        if not self._ready:
            self._pending.append(bytes(data))
            return
        try:
            self._tls.write(data)
        except ssl.SSLError as e:
            self._fail(e)
            return
        self._send_out()

    def writeSequence(self, sequence):
        for data in sequence:
            self.write(data)

    def loseConnection(self):
        """Close after what was written so far, with a TLS close_notify."""
        if self._lost or self._closing:
            return
        self._closing = True
        if not self._ready:
            return  # the handshake finishing sends what waits, then closes
        try:
            self._tls.unwrap()
        except ssl.SSLError:
            pass  # the peer's close_notify is not awaited
        self._send_out()
        self.transport.loseConnection()

    def abortConnection(self):
        self._lost_soon()

    def getPeer(self):
        return self.transport.getPeer()

    def getHost(self):
        return self.transport.getHost()

    def setTcpNoDelay(self, enabled):
        self.transport.setTcpNoDelay(enabled)

    def registerProducer(self, producer, streaming):
        # encrypted bytes go to the TCP transport at once, so its buffer is the one to watch
        self.transport.registerProducer(producer, streaming)

    def unregisterProducer(self):
        self.transport.unregisterProducer()


class TLSStreamFactory(Factory):
    """Wraps every protocol ``factory`` builds in a TLSStream."""

    noisy = False

    def __init__(self, factory, context, server_side, check_peer=None):
        self.factory = factory
        self.context = context
        self.server_side = server_side
        self.check_peer = check_peer

    def buildProtocol(self, addr):
        wrapped = self.factory.buildProtocol(addr)
        if wrapped is None:
            return None
        return TLSStream(wrapped, self.context, self.server_side, self.check_peer)
