"""An engine relay: the process that holds a share of the engines' connections (``kernel.controller.relays``).

The controller starts it (``kernel.apps.relay``) with its end of a private
socket pair and a listening socket on the engine port, and tells it over
the pair the engine FURL's swissnum and where the port's TLS key is. It
then serves engines as the controller's own engine port does (TLS, the
greeting, the limits on connections not yet authenticated, the check of
each message against its declaration), but forwards what the engines send
to the controller, those of one turn as one batch naming each one's
connection, and writes what the controller forwards to the connections it
names. It exits when the controller goes, closing its engines' connections.
"""

import itertools
from pathlib import Path

from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from kernel.controller.relays import STOP_WAIT
from kernel.errors import MessageSizeError
from kernel.tls import Identity, server_context
from kernel.wire import framing, messages
from kernel.wire.admission import Admission, limit_in_all
from kernel.wire.messages import responder
from kernel.wire.pool import BufferPool
from kernel.wire.protocol import CapabilityTable, FramedProtocol, ServerFactory
from kernel.wire.tlsstream import TLSStreamFactory
from kernel.wire.transport import serve

HEARD_PERIOD = 0.5  # seconds between reports of connections that sent bytes but no whole message


class ForwardedSession:
    """One engine's connection in a relay: its messages go to the controller, in the link's batches."""

    def __init__(self, link, conn, protocol):
        self.link = link
        self.conn = conn
        self.protocol = protocol
        self.forwarded_at = 0.0  # when the last whole message went to the controller

    def message(self, header, buffers):
        messages.FROM_ENGINE.decode(header)  # a ProtocolError closes this connection, as at the controller
        self.forwarded_at = self.protocol.last_received
        self.link.batch(self.conn, header, buffers)

    def closed(self, reason):
        self.link.sessions.pop(self.conn, None)
        self.link.send(messages.Closed.header(conn=self.conn, reason=reason.getErrorMessage()))
        self.link.closed_one()


class RelayedEngines:
    """The capability behind the engine FURL, in a relay: each engine's session forwards."""

    name = "engine"
    max_frame = None

    def __init__(self, link):
        self.link = link
        self._numbers = itertools.count(1)

    def open_session(self, protocol):
        session = ForwardedSession(self.link, next(self._numbers), protocol)
        self.link.sessions[session.conn] = session
        self.link.send(messages.Opened.header(conn=session.conn, peer=protocol.peer()))
        return session


class ControllerLink(FramedProtocol):
    """The relay's end of its link: the setup, then frames to forward to engines."""

    log = Logger()

    def __init__(self, reactor, listening):
        self.clock = self.reactor = reactor
        self.listening = listening  # the socket to serve engines on, once set up
        self.sessions = {}
        self.handlers = messages.TO_RELAY.responders(self)
        self.buffers = BufferPool(reactor)
        self.port = None
        self._stopping = False
        self._exited = False
        self._batch = []  # (conn, header, buffers) of the engines' messages read in this turn
        self._end_of_turn = None  # the call that sends the batch once this turn of the reactor ends
        self._heard = LoopingCall(self._report_heard)
        self._heard.clock = reactor
        self._trim = LoopingCall(self.buffers.trim)
        self._trim.clock = reactor

    def connectionMade(self):
        super().connectionMade()
        self._decoder = framing.FrameDecoder(allocate=self.buffers.allocate)

    def dataReceived(self, data):
        self._feed(data)

    def message(self, header, buffers):
        self.handlers[messages.TO_RELAY.decode(header)](header, buffers)

    @responder(messages.RelaySetup)
    def _setup(self, header, buffers):
        table = CapabilityTable()
        table.add(header["swissnum"], RelayedEngines(self))
        admission = Admission(self.reactor, header["preauth_per_peer"], limit_in_all(header["preauth_max"]),
                              header["preauth_grace"])
        factory = ServerFactory(table, self.reactor, admission, header["preauth_timeout"],
                                allocate=self.buffers.allocate)
        context = server_context(Identity.load(Path(header["cert_file"])))
        self.port = serve(self.reactor, self.listening, TLSStreamFactory(factory, context, server_side=True))
        self._heard.start(HEARD_PERIOD, now=False)
        self._trim.start(self.buffers.idle_seconds, now=False)

    @responder(messages.Forward)
    def _forward(self, header, buffers):
        for conn in header["conns"]:
            session = self.sessions.get(conn)
            if session is not None:  # else it closed, and the controller hears so soon
                session.protocol.send_encoded(buffers)

    @responder(messages.Drop)
    def _drop(self, header, buffers):
        session = self.sessions.get(header["conn"])
        if session is not None:
            session.protocol.abort()

    def _report_heard(self):
        alive = [conn for conn, s in self.sessions.items() if s.protocol.last_received > s.forwarded_at]
        for conn in alive:
            self.sessions[conn].forwarded_at = self.sessions[conn].protocol.last_received
        if alive:
            self.send(messages.Heard.header(conns=alive))

    def connectionLost(self, reason):
        """The controller is gone: close every engine's connection (each gets what was sent first), then exit."""
        super().connectionLost(reason)
        self._stopping = True
        if self._end_of_turn is not None and self._end_of_turn.active():
            self._end_of_turn.cancel()
        for loop in (self._heard, self._trim):
            if loop.running:
                loop.stop()
        if self.port is not None:
            self.port.stopListening()
        for session in list(self.sessions.values()):
            session.protocol.close()
        self.reactor.callLater(STOP_WAIT / 2, self._exit)  # engines that do not read are not waited for
        self.closed_one()

    def closed_one(self):
        if self._stopping and not self.sessions:
            self._exit()

    def _exit(self):
        if not self._exited:
            self._exited = True
            self.reactor.stop()

    def batch(self, conn, header, buffers):
        """Forward an engine's message with the others read in this turn of the reactor."""
        if self._end_of_turn is None:
            self._end_of_turn = self.reactor.callLater(0, self._turn_ended)
        self._batch.append((conn, header, buffers))

    def _turn_ended(self):
        self._end_of_turn = None
        self._send_batch()

    def _send_batch(self):
        batch, self._batch = self._batch, []
        if batch and self.connected:
            self._send_messages(batch)

    def _send_messages(self, batch):
        """One ``batch``; in halves if it is too big for a frame, and a message too big alone drops its engine."""
        header = messages.Batch.header(conns=[conn for conn, _, _ in batch], headers=[h for _, h, _ in batch],
                                       counts=[len(b) for _, _, b in batch])
        try:
            parts = framing.encode(header, [buffer for _, _, buffers in batch for buffer in buffers])
        except MessageSizeError as e:
            if len(batch) > 1:
                half = len(batch) // 2
                self._send_messages(batch[:half])
                self._send_messages(batch[half:])
                return
            session = self.sessions.get(batch[0][0])
            if session is not None:
                session.protocol.protocol_error(str(e))
            return
        super().send_encoded(parts)

    def send(self, header, buffers=()):
        """Send a message of the relay's own, after the engines' messages batched before it."""
        self._send_batch()
        if self.connected:
            super().send(header, buffers)
