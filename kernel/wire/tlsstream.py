"""TLS for Twisted connections, on the standard library's ``ssl`` module.

Twisted's own TLS layer goes through pyOpenSSL, which hands OpenSSL one
16 KiB record per call and copies every record through a cffi buffer: on a
bulk transfer the controller spent most of its time there. Here the stdlib's
``SSLObject`` encrypts a whole chunk in one call, straight from the caller's
memory, into a memory BIO whose bytes go to the TCP transport as they are.

``TLSStream`` is built as Twisted's ``TLSMemoryBIOProtocol`` is: the
``IProtocol`` of the TCP transport under it and the ``ITransport`` of the
protocol it wraps, using nothing of the TCP transport but its interfaces
(``write``, ``loseConnection``, ``abortConnection``, producers). A protocol
that has ``get_buffer()``/``buffer_updated(n)`` (as asyncio's
BufferedProtocol) gets big payloads decrypted straight into the buffer it
names, and one that has ``read_done()`` is told once all that one read
brought has been handed up (the engine runs the commands it queued then,
``kernel.engine.runner``). The wrapped protocol is connected at once, as
with Twisted's TLS, so its timers (the pre-auth timeout) also bound a
handshake that never ends; what it writes before the handshake is done
waits, and a client's pin check runs before any of it is sent.
"""

import ssl

from twisted.internet.interfaces import IConsumer, ITransport
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from kernel.wire.transport import lock_of, write_buffer_size

READ_SIZE = 1 << 16  # a record holds at most 16 KiB; this leaves slack


@implementer(ITransport, IConsumer)
class TLSStream(Protocol):
    """One TLS connection over a TCP transport; the transport of ``wrapped``.

    ``check_peer(der_certificate)`` runs once the handshake is done and
    returns an exception to refuse the peer (the client's key pin), or None.

    Another thread may write (an engine's replies): the TLS object and what
    goes out are used under the connection's ``lock`` (the TCP transport's,
    shared with the layers above). What is read is handed up outside it, so
    a writer never waits for the protocol above to act on a message.
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
        self.lock = lock_of(self.transport)
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = self._context.wrap_bio(self._incoming, self._outgoing, server_side=self._server_side)
        self._read_done = getattr(self.wrapped, "read_done", None)
        self.wrapped.makeConnection(self)
        with self.lock:
            self._handshake()

    def dataReceived(self, data):
        with self.lock:
            if self._lost or (self._closing and self._ready):
                return
            self._incoming.write(data)
            if not self._ready:
                self._handshake()
            if not self._ready:
                return
        try:
            self._read_all()
        finally:
            if self._read_done is not None:
                self._read_done()

    def connectionLost(self, reason):
        with self.lock:
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
                self._fail(refused)  # before any of the wrapped protocol's bytes is sent
                return
        self._ready = True
        pending, self._pending = self._pending, []
        if pending:
            self.writeSequence(pending)
        if self._closing:
            self._closing = False
            self.loseConnection()

    def _read_all(self):
        wrapped = self.wrapped
        get_buffer = getattr(wrapped, "get_buffer", None)
        while True:
            target = get_buffer() if get_buffer is not None else None
            with self.lock:
                if self._lost or self.wrapped is None:
                    return
                try:
                    if target is not None:
                        got = self._tls.read(len(target), target)  # straight into place
                    else:
                        got = self._tls.read(READ_SIZE)
                except ssl.SSLWantReadError:
                    got = None
                except ssl.SSLZeroReturnError:  # the peer's close_notify
                    self.transport.loseConnection()
                    got = None
                except ssl.SSLError as e:
                    self._fail(e)
                    return
                more = bool(got) and (self._incoming.pending or self._tls.pending())
                self._send_out()  # what reading produced: key updates, tickets
            if not got:
                return
            if target is not None:
                wrapped.buffer_updated(got)
            else:
                wrapped.dataReceived(got)
            if not more:
                return  # all read: another read would only raise SSLWantReadError

    def _send_out(self):
        data = self._outgoing.read()
        if data and not self._lost:
            self.transport.write(data)

    def _fail(self, error):
        self._failure = Failure(error)
        self._lost_soon()

    def _lost_soon(self):
        if not self._lost:
            self.transport.abortConnection()

    # -- the wrapped protocol's transport: any thread ------------------------------

    def write(self, data):
        self.writeSequence((data,))

    def writeSequence(self, sequence):
        """Encrypt every piece, then hand the TCP transport all the records in one write."""
        with self.lock:
            if self._lost or self._failure is not None or (self._closing and self._ready):
                return  # after loseConnection nothing more goes out (the close_notify is sent)
            if not self._ready:
                self._pending.extend(bytes(data) for data in sequence)
                return
            try:
                for data in sequence:
                    self._tls.write(data)
            except ssl.SSLError as e:
                self._fail(e)
                return
            self._send_out()

    def get_write_buffer_size(self):
        """Bytes written that the socket has not taken yet: the TCP transport's, once encrypted."""
        with self.lock:
            return write_buffer_size(self.transport) + sum(len(data) for data in self._pending)

    def loseConnection(self):
        """Close after what was written so far, with a TLS close_notify."""
        with self.lock:
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
        with self.lock:
            self._lost_soon()

    def getPeer(self):
        return self.transport.getPeer()

    def getHost(self):
        return self.transport.getHost()

    def setTcpNoDelay(self, enabled):  # of ITCPTransport, as abortConnection
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
