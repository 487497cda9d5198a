"""An engine relay: the process that holds a share of the engines' connections (``kernel.controller.relays``).

The controller starts it with its end of a private socket pair (fd 3) and
a listening socket on the engine port (fd 4), and tells it over the pair
the engine FURL's swissnum and where the port's TLS key is. It then serves
engines as the controller's own engine port does (TLS, the greeting, the
limits on connections not yet authenticated), but forwards what each engine
sends to the controller, marked with the connection's number, and writes
what the controller forwards to the connections it names. It exits when
the controller goes, closing its engines' connections.
"""

import itertools
import signal
import socket
import sys
from pathlib import Path

from twisted.internet.task import LoopingCall
from twisted.logger import FileLogObserver, Logger, formatEventAsClassicLogText, globalLogBeginner

from kernel.apps.common import raise_file_limit
from kernel.controller.relays import LINK_FD, LISTEN_FD, STOP_WAIT
from kernel.tls import Identity, server_context
from kernel.wire import framing, messages
from kernel.wire.admission import Admission, limit_in_all
from kernel.wire.messages import responder
from kernel.wire.pool import BufferPool
from kernel.wire.protocol import CapabilityTable, FramedProtocol, ServerFactory
from kernel.wire.tlsstream import TLSStreamFactory
from kernel.wire.transport import SocketTransport, serve

HEARD_PERIOD = 0.5  # seconds between reports of connections that sent bytes but no whole message


class ForwardedSession:
    """One engine's connection in a relay: its messages go to the controller with ``via``."""

    def __init__(self, link, conn, protocol):
        self.link = link
        self.conn = conn
        self.protocol = protocol
        self.forwarded_at = 0.0  # when the last whole message went to the controller

    def message(self, header, buffers):
        header["via"] = self.conn  # the relay's, whatever the engine wrote there
        self.forwarded_at = self.protocol.last_received
        self.link.send(header, buffers)

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

    def send(self, header, buffers=()):
        if self.connected:
            super().send(header, buffers)


def main():
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the controller's to act on
    # the controller logs each line with the time and the relay's number
    lines = FileLogObserver(sys.stderr, lambda event: formatEventAsClassicLogText(event, formatTime=lambda _: ""))
    globalLogBeginner.beginLoggingTo([lines], redirectStandardIO=False)
    raise_file_limit()  # an engine is a connection
    from twisted.internet import reactor

    link_socket = socket.socket(fileno=LINK_FD)
    link_socket.setblocking(False)
    listening = socket.socket(fileno=LISTEN_FD)
    listening.setblocking(False)
    link = ControllerLink(reactor, listening)
    reactor.callWhenRunning(lambda: SocketTransport(reactor, link_socket, link).start())
    reactor.run(installSignalHandlers=False)


if __name__ == "__main__":
    main()
