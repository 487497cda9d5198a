"""Engine relays: processes of the controller's that hold the engines' connections.

The controller's one thread writes and reads each engine's messages itself:
a broadcast costs it about 20 µs of CPU per engine (its TLS record, its
system calls, the reactor's dispatch of each reply), so a call to 100
engines takes 2 ms of it however many cores the host has. With ``relays``
set (``ipcontroller --relays K``) the engine port is served by K relay
processes instead (``kernel.controller.relay``, run by ``kernel.apps.relay``),
each listening on the same port (the kernel spreads new connections among
them): a relay does the TLS, the greeting and the reads and writes of its
share of the engines, and speaks to the controller over one private socket
pair. A call to every engine is then one message per relay, and the replies
a relay reads in one turn reach the controller as one message. Engines see
no difference: the same FURL, port and protocol.

Everything else stays here: registration, queues, heartbeats, the verdict
that an engine is gone. A relay moves bytes, and checks each engine's
message against its declaration (``messages.FROM_ENGINE``) as the
controller would, dropping an engine that breaks it: that check is per
engine, so it is done in parallel there. What the message means (a reply
to a command this engine has, say) is judged here.
"""

import os
import socket
import sys

from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from kernel.errors import ProtocolError
from kernel.retry import RestartBudget
from kernel.wire import framing, messages
from kernel.wire.messages import responder
from kernel.wire.protocol import CLOSING, FramedProtocol
from kernel.wire.transport import SocketTransport, bind

LINK_FD, LISTEN_FD = 3, 4  # a relay's end of its link, and its listening socket, as it finds them
STOP_WAIT = 5.0  # seconds a relay has to close its engines' connections and exit when the controller stops
RESTARTS, RESTART_WINDOW = 3, 60.0  # a relay that dies this often within this many seconds stays down


class RelayedConnection:
    """An engine's connection held by a relay, as its ``EngineSession`` uses it (a ServerProtocol's part)."""

    log = Logger()

    def __init__(self, link, conn, peer):
        self.link = link
        self.conn = conn
        self._peer = peer
        self.last_received = link.clock.seconds()
        self.dropped = False
        self.session = None

    def send(self, header, buffers=()):
        self.send_encoded(framing.encode(header, buffers))

    def send_encoded(self, parts):
        if not self.dropped:
            self.link.forward(self.conn, parts)

    def abort(self):
        if not self.dropped:
            self.dropped = True  # what the engine sent meanwhile is not read
            self.link.drop(self.conn)

    def peer(self):
        return self._peer

    def received(self, header, buffers, now):
        """An engine's message from the relay's batch read at ``now``."""
        if self.dropped:
            return
        self.last_received = now
        try:
            self.session.checked_message(header, buffers)
        except ProtocolError as e:
            self.log.warn(CLOSING, peer=self._peer, why=e)
            self.abort()


class RelayLink(FramedProtocol):
    """The controller's end of one relay's link: engines' messages in, frames for engines out.

    Frames for engines are grouped: one sent to several engines of this
    relay in a row (a broadcast's call, a round's beats) goes as one
    ``forward`` naming them all, written at the end of the reactor's turn.
    Each engine still gets its frames in the order they were sent.
    """

    log = Logger()

    def __init__(self, number, interface, clock, setup, allocate=framing.allocate):
        self.number = number
        self.interface = interface  # the engine FURL's: opens an EngineSession per engine
        self.clock = clock
        self.setup = setup  # the relay_setup header
        self.allocate = allocate
        self.connections = {}
        self.handlers = messages.FROM_RELAY.responders(self)
        self._group = None  # (parts, [conn, ...]) of the frame being sent to engines in a row
        self._end_of_turn = None  # the call that writes the last group once this turn of the reactor ends

    def connectionMade(self):
        super().connectionMade()
        self._decoder = framing.FrameDecoder(allocate=self.allocate)
        self.send(self.setup)

    def dataReceived(self, data):
        self._feed(data)

    def message(self, header, buffers):
        self.handlers[messages.FROM_RELAY.decode(header)](header, buffers)

    def forward(self, conn, parts):
        group = self._group
        if group is not None:
            if group[0] is parts:
                group[1].append(conn)
                return
            self._write_group()
        elif self._end_of_turn is None:
            self._end_of_turn = self.clock.callLater(0, self._turn_ended)
        self._group = (parts, [conn])

    def drop(self, conn):
        self._write_group()
        self.send(messages.Drop.header(conn=conn))

    def close(self):
        """Close once what was sent is written: the grouped frame too (the engines' ``bye``)."""
        self._write_group()
        super().close()

    def _turn_ended(self):
        self._end_of_turn = None
        self._write_group()

    def _write_group(self):
        group, self._group = self._group, None
        if group is not None and self.connected:
            self.send(messages.Forward.header(conns=group[1]), group[0])

    @responder(messages.Opened)
    def _opened(self, header, buffers):
        connection = RelayedConnection(self, header["conn"], header["peer"])
        connection.session = self.interface.open_session(connection)
        self.connections[connection.conn] = connection

    @responder(messages.Batch)
    def _batch(self, header, buffers):
        now = self.clock.seconds()
        groups = framing.split(header["counts"], buffers)
        connections = self.connections
        for conn, message, group in zip(header["conns"], header["headers"], groups):
            connection = connections.get(conn)
            if connection is not None:
                connection.received(message, group, now)

    @responder(messages.Closed)
    def _closed(self, header, buffers):
        connection = self.connections.pop(header["conn"], None)
        if connection is not None:
            connection.session.closed(Failure(ConnectionError(header["reason"])))

    @responder(messages.Heard)
    def _heard(self, header, buffers):
        now = self.clock.seconds()
        for conn in header["conns"]:
            connection = self.connections.get(conn)
            if connection is not None:
                connection.last_received = now

    def connectionLost(self, reason):
        super().connectionLost(reason)
        if self._end_of_turn is not None and self._end_of_turn.active():
            self._end_of_turn.cancel()
        connections, self.connections = self.connections, {}
        gone = Failure(ConnectionError(f"its relay {self.number} went away"))
        for connection in connections.values():
            connection.session.closed(gone)


class RelayProcess(ProcessProtocol):
    """One relay process: its output goes to the controller's log; ``on_end(self, reason)`` hears of its end."""

    log = Logger()

    def __init__(self, number, link, on_end):
        self.number = number
        self.link = link
        self.on_end = on_end
        self.ended = defer.Deferred()

    def outReceived(self, data):
        for line in data.decode("utf-8", "replace").splitlines():
            if line.strip():
                self.log.info("relay {n}: {line}", n=self.number, line=line.strip())

    errReceived = outReceived

    def processEnded(self, reason):
        self.ended.callback(None)
        self.on_end(self, reason)


class Relays:
    """The controller's K relays: started on the engine port, started again if one dies, stopped with it.

    A relay that died RESTARTS times within RESTART_WINDOW seconds stays
    down; the others serve the port meanwhile.
    """

    log = Logger()

    def __init__(self, reactor, count, interface, allocate=framing.allocate):
        self.reactor = reactor
        self.count = count
        self.interface = interface
        self.allocate = allocate
        self.budget = RestartBudget(RESTARTS, RESTART_WINDOW)
        self.running = {}  # number -> RelayProcess
        self.stopping = False
        self.port = self.ip = self.setup = None
        self._sockets = []

    def listen(self, port, ip):
        """Bind the engine port for the relays (raises CannotListenError); returns its number.

        The port is first bound alone, unshared: that fails if anything listens there, another
        controller's relays included, which would otherwise share it and split the engines.
        """
        probe = bind(port, ip)
        self.port, self.ip = probe.getsockname()[1], ip
        probe.close()
        self._sockets = [bind(self.port, ip, shared=True) for _ in range(self.count)]
        return self.port

    def start(self, setup):
        """Start a relay on each bound socket; ``setup`` is the ``relay_setup`` header they get."""
        self.setup = setup
        for number, listening in enumerate(self._sockets):
            self._spawn(number, listening)
        self._sockets = []
        self.log.info("{n} relays serve the engine port", n=self.count)

    def _spawn(self, number, listening):
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        link = RelayLink(number, self.interface, self.reactor, self.setup, self.allocate)
        SocketTransport(self.reactor, ours, link).start()
        process = RelayProcess(number, link, self._ended)
        self.reactor.spawnProcess(
            process, sys.executable, [sys.executable, "-m", "kernel.apps.relay"], env=os.environ,
            childFDs={0: "w", 1: "r", 2: "r", LINK_FD: theirs.fileno(), LISTEN_FD: listening.fileno()})
        theirs.close()
        listening.close()  # the relay's now
        self.running[number] = process

    def _ended(self, process, reason):
        del self.running[process.number]
        if self.stopping:
            return
        why = reason.getErrorMessage()
        if not self.budget.allow(process.number, self.reactor.seconds()):
            self.log.error("relay {n} exited: {why}; it died {limit} times within {window:g} s, so it stays down",
                           n=process.number, why=why, limit=RESTARTS, window=RESTART_WINDOW)
            if not self.running:
                self.log.critical("no relay is left to serve the engine port: engines cannot connect")
            return
        self.log.error("relay {n} exited: {why}; its engines reconnect through the others, and it starts again",
                       n=process.number, why=why)
        try:
            listening = bind(self.port, self.ip, shared=True)
        except CannotListenError as e:
            self.log.error("relay {n} cannot start again: {e}", n=process.number, e=e)
            return
        self._spawn(process.number, listening)

    def stop(self):
        """Close the links (each relay closes its engines' connections and exits); fires once all have."""
        self.stopping = True
        running = list(self.running.values())
        for process in running:
            process.link.close()
        ended = defer.DeferredList([p.ended for p in running])
        killing = self.reactor.callLater(STOP_WAIT, self._kill, running)
        ended.addBoth(lambda _: killing.cancel() if killing.active() else None)
        return ended

    def _kill(self, processes):
        for process in processes:
            if process.transport is not None and process.transport.pid is not None:
                self.log.warn("relay {n} did not exit; killing it", n=process.number)
                process.transport.signalProcess("KILL")
