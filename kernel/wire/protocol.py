"""Twisted protocols for framed, capability-checked connections.

``ServerProtocol`` runs on the controller's listeners: it checks the greeting,
then hands every message to the session the capability opens. ``ClientProtocol``
is the engine's side. Small frames are written straight through (a TLS record
each, sent at once: ``wire/transport.py``); big ones go out a chunk per turn,
as the transport's producer. An engine's command thread sends its replies
itself, with ``send_from_thread``.
"""

import hashlib
import hmac
import threading
from collections import deque

from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

from kernel import versions
from kernel.errors import CapabilityRefused, ProtocolError
from kernel.settings import ControllerSettings
from kernel.wire import framing, messages
from kernel.wire.admission import Admission
from kernel.wire.greeting import GREETING_MAX, REFUSED, greeting, parse_greeting, welcomed
from kernel.wire.transport import lock_of, write_buffer_size

PREAUTH_TIMEOUT = ControllerSettings.preauth_timeout


class CapabilityTable:
    """Swissnum → interface; looked up by hash so timing reveals nothing useful."""

    def __init__(self):
        self._by_hash = {}

    @staticmethod
    def _key(swissnum):
        return hashlib.sha256(swissnum.encode("ascii")).digest()

    def add(self, swissnum, interface):
        self._by_hash[self._key(swissnum)] = interface

    def lookup(self, swissnum):
        key = self._key(swissnum)
        for known, interface in self._by_hash.items():
            if hmac.compare_digest(known, key):
                return interface
        return None


CLOSING = "closing connection from {peer}: {why}"  # logged when a peer's bytes break the protocol
WRITE_CHUNK = 4 * 1024 * 1024  # at most this much is handed to TLS per reactor turn


class FramedProtocol(Protocol):
    """Shared frame sending: frames queued in one turn go out in one write.

    A big frame is written a chunk per reactor turn, as the transport's
    producer: the reactor never blocks for long encrypting it (heartbeats and
    other connections keep flowing) and ciphertext is not piled up in memory.
    What is sent, from the reactor's thread or another, is under the
    connection's ``lock``; what is received is not.
    """

    clock = None  # set by the factory: an IReactorTime
    _flush_call = None

    def connectionMade(self):
        self._outgoing = deque()
        self._producing = False
        self._paused = False
        self._closing = False
        self._decoder = None
        self.lock = lock_of(self.transport)  # the connection's: another thread may send
        self._reactor_thread = threading.get_ident()  # connections are made on the reactor's
        self.transport.setTcpNoDelay(True)

    def send(self, header, buffers=()):
        """Send one message; on the reactor's thread."""
        self.send_encoded(framing.encode(header, buffers))

    def send_encoded(self, parts):
        """Send a frame ``framing.encode`` made, which may go to other connections too; on the reactor's
        thread, or one standing in for it (``pump``)."""
        with self.lock:
            if self.connected and not self._write_now(parts):
                self._schedule()

    def send_from_thread(self, header, buffers=()):
        """Send one message from a thread other than the reactor's; dropped if the connection is lost.

        Under the connection's lock, a small frame with nothing queued
        before it is written at once; anything else joins the queue that
        the reactor's thread writes, in order.
        """
        parts = framing.encode(header, buffers)
        with self.lock:
            if not self.connected or self._write_now(parts):
                return
        self._schedule()

    def get_write_buffer_size(self):
        """Bytes sent on this connection that the socket has not taken yet: a peer reading slowly shows here."""
        with self.lock:
            return sum(memoryview(part).nbytes for part in self._outgoing) + write_buffer_size(self.transport)

    def _write_now(self, parts):
        """Write a small frame straight through if nothing waits before it; else queue ``parts``, False."""
        if len(parts) == 1 and not self._outgoing and not self._paused:
            # with no reactor turn of its own: the transport sends it at once
            self.transport.write(parts[0])
            return True
        self._outgoing.extend(parts)
        return False

    def has_outgoing(self):
        """Whether frames wait to be handed to the transport."""
        return bool(self._outgoing)

    def pump(self):
        """Hand the transport the next chunk of what waits, paused or not: for a thread that stands in
        for a busy reactor's (``kernel.engine.standin``) once the socket has taken the last chunk."""
        with self.lock:
            if self.connected and self._outgoing:
                self._write_chunk()

    def _schedule(self):
        """Have the reactor's next turn write what waits; from any thread."""
        if threading.get_ident() != self._reactor_thread:
            self.clock.callFromThread(self._schedule)
            return
        with self.lock:
            if self._flush_call is None and not self._paused and self._outgoing and self.connected:
                self._flush_call = self.clock.callLater(0, self._flush)

    def _flush(self):
        with self.lock:
            self._flush_call = None
            if self.connected:
                self._write_chunk()

    def _write_chunk(self):
        batch, budget = [], WRITE_CHUNK
        while self._outgoing and budget > 0:
            part = self._outgoing.popleft()
            if len(part) > budget:
                view = memoryview(part)
                batch.append(view[:budget])
                self._outgoing.appendleft(view[budget:])
                budget = 0
            else:
                batch.append(part)
                budget -= len(part)
        small, run = [], []
        for part in batch:
            if len(part) <= framing.SMALL:
                run.append(part)
                continue
            if run:
                small.append(b"".join(bytes(p) for p in run))
                run = []
            small.append(part)
        if run:
            small.append(b"".join(bytes(p) for p in run))
        if self._outgoing and not self._producing:
            self._producing = True
            self.transport.registerProducer(self, True)
        self.transport.writeSequence(small)
        if self._outgoing:
            self._schedule()
            return
        if self._producing:
            self._producing = False
            self._paused = False  # no resumeProducing comes once unregistered
            self.transport.unregisterProducer()
        if self._closing:
            self.transport.loseConnection()

    def close(self):
        """Close once every frame already sent has been written."""
        with self.lock:
            self._closing = True
            if self._flush_call is None and not self._outgoing:
                self.transport.loseConnection()

    # IPushProducer, while a big frame is being written
    def pauseProducing(self):
        self._paused = True

    def resumeProducing(self):
        self._paused = False
        self._schedule()

    def stopProducing(self):
        self._outgoing.clear()

    def connectionLost(self, reason):
        self.connected = False  # a reply from another thread is dropped from now on
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None
        self._outgoing.clear()
        self._decoder = None  # a half-received frame is freed now, not at the next GC

    last_received = 0.0  # when bytes last arrived: a peer sending a big frame is alive

    def _feed(self, data):
        if self._decoder is not None:  # else: data after the connection was lost
            self._deliver(self._decoder.feed, data)

    def get_buffer(self):
        """Where the transport may decrypt the next bytes straight into (see TLSStream)."""
        return self._decoder.get_buffer() if self._decoder is not None else None

    def buffer_updated(self, n):
        self._deliver(self._decoder.buffer_updated, n)

    def _deliver(self, decode, data):
        self.last_received = self.clock.seconds()
        try:
            messages = decode(data)
        except ProtocolError as e:
            self.protocol_error(str(e))
            return
        for header, buffers in messages:
            if not self.connected:
                return
            self.message(header, buffers)

    def protocol_error(self, why):
        self.log.warn(CLOSING, peer=self.peer(), why=why)
        self.abort()

    def abort(self):
        """Close at once, dropping what waits to be sent."""
        self.transport.abortConnection()

    def peer(self):
        """``host:port`` of the other end, for logs."""
        peer = self.transport.getPeer()
        return f"{getattr(peer, 'host', '?')}:{getattr(peer, 'port', '?')}"


class ServerProtocol(FramedProtocol):
    """The controller's end: greeting first, then the opened session's messages.

    Until the greeting names a known swissnum the connection is counted by
    ``admission`` (``kernel.wire.admission``), which also logs why such
    connections were closed, a line per address and interval.
    """

    log = Logger()

    def __init__(self, table, clock, preauth_timeout=PREAUTH_TIMEOUT, allocate=framing.allocate, admission=None):
        self.table = table
        self.clock = clock
        self.allocate = allocate  # where big received buffers come from (a BufferPool's)
        self.preauth_timeout = preauth_timeout
        self.admission = Admission(clock) if admission is None else admission
        self.session = None
        self._greeting = bytearray()

    def connectionMade(self):
        super().connectionMade()
        self.admission.entered(self, self.transport.getPeer().host)
        self._timeout = self.clock.callLater(self.preauth_timeout, self._preauth_expired)

    def _preauth_expired(self):
        self.protocol_error(f"no capability greeting within {self.preauth_timeout:g} s")

    def protocol_error(self, why):
        if self.session is not None:
            super().protocol_error(why)
            return
        self.admission.reports.note(self.transport.getPeer().host, why)
        self.transport.abortConnection()

    def dataReceived(self, data):
        if self.session is not None:
            self._feed(data)
            return
        self._greeting += data
        try:
            parsed = parse_greeting(self._greeting)
        except ProtocolError as e:
            self.protocol_error(str(e))
            return
        if parsed is None:
            if len(self._greeting) >= GREETING_MAX:
                self.protocol_error("greeting too long")
            return
        swissnum, rest = parsed
        self._greeting = None
        if self._timeout.active():
            self._timeout.cancel()
        interface = self.table.lookup(swissnum)
        if interface is None:
            self.admission.reports.note(self.transport.getPeer().host, "unknown swissnum")
            self.send(messages.Refused.header(error=REFUSED))
            self._flush()
            self.transport.loseConnection()
            return
        self.admission.authenticated(self)
        self._decoder = framing.FrameDecoder(max_frame=interface.max_frame, allocate=self.allocate)
        self.session = interface.open_session(self)
        self.send(messages.Welcome.header(interface=interface.name, versions=versions.local()))
        if rest:
            self._feed(rest)

    def message(self, header, buffers):
        try:
            self.session.message(header, buffers)
        except ProtocolError as e:
            self.protocol_error(str(e))

    def connectionLost(self, reason):
        super().connectionLost(reason)
        self.admission.left(self)
        if self._greeting is not None and self._timeout.active():
            self._timeout.cancel()
        if self.session is not None:
            self.session.closed(reason)
            self.session = None  # no cycle keeps a gone peer's state alive


class ServerFactory(Factory):
    """Builds a ServerProtocol for each connection ``admission`` lets in; for the others None: closed at once."""

    noisy = False

    def __init__(self, table, clock, admission, preauth_timeout=PREAUTH_TIMEOUT, allocate=framing.allocate):
        self.table = table
        self.clock = clock
        self.admission = admission
        self.preauth_timeout = preauth_timeout
        self.allocate = allocate

    def buildProtocol(self, addr):
        if not self.admission.admit(addr.host):
            return None
        return ServerProtocol(self.table, self.clock, self.preauth_timeout, self.allocate, self.admission)


class ClientProtocol(FramedProtocol):
    """The engine's end: send the greeting, expect a welcome for ``interface``."""

    log = Logger()

    def __init__(self, swissnum, interface, clock, on_welcome, on_message, on_lost, on_read_done=None):
        self.swissnum = swissnum
        self.interface = interface
        self.clock = clock
        self.on_welcome = on_welcome
        self.on_message = on_message
        self.on_lost = on_lost
        self.on_read_done = on_read_done  # each read's messages have all gone to on_message
        self.welcomed = False
        self.failure = None
        self.peer_versions = {}

    def connectionMade(self):
        super().connectionMade()
        self._decoder = framing.FrameDecoder()
        self.transport.write(greeting(self.swissnum))

    def dataReceived(self, data):
        self._feed(data)

    def read_done(self):
        """All that one read brought has been delivered (``TLSStream`` says so)."""
        if self.welcomed and self.on_read_done is not None:
            self.on_read_done()

    def message(self, header, buffers):
        if self.welcomed:
            self.on_message(header, buffers)
            return
        try:
            self.peer_versions = welcomed(header, self.interface)
        except CapabilityRefused as e:
            self.failure = e
            self.transport.loseConnection()
            return
        self.welcomed = True
        self.on_welcome(self)

    def connectionLost(self, reason):
        super().connectionLost(reason)
        self.on_lost(self, self.failure or reason.value)
