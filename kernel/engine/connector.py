"""The engine's connection to the controller: connect, register, answer heartbeats, reconnect.

Runs on the reactor's thread. The controller beats, the engine answers each
beat at once and beats on its own never (``kernel.controller.heartbeats``);
it checks every period that the controller has not been silent for longer
than the timeout, both as the controller last said them (in ``registered``
and in each beat: they grow with the number of engines). The FURL is asked for afresh on every attempt, so
an engine follows a controller that restarted with new ports. It keeps its state visible (``state`` and
``last_error``) because "why isn't my engine connected?" is the first question
users ask. Permanent errors (a wrong key, a refused capability) stop it; a
controller that is merely away is retried with backoff until ``give_up_after``.
What the controller sends is decoded by the handler (``EngineCore.on_message``),
which hands the connection's own messages back here: ``registered``, ``beat``,
``drop``.
"""

import os
import socket

from twisted.internet import defer
from twisted.internet.protocol import Factory
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from kernel import versions
from kernel.errors import CapabilityRefused, SecurityError
from kernel.retry import backoff_policy
from kernel.settings import ControllerSettings, EngineSettings
from kernel.tls import client_context, pin_check
from kernel.wire import framing, messages, shm, transport
from kernel.wire.protocol import ClientProtocol
from kernel.wire.tlsstream import TLSStreamFactory

PERMANENT = (SecurityError, CapabilityRefused)
CONNECT_TIMEOUT = 10.0  # seconds one connection attempt may take
ANSWER = framing.encode(messages.Heartbeat.header())  # to each of the controller's beats


class EngineConnector:
    log = Logger()

    def __init__(self, reactor, furl_source, handler, desired_id=None,
                 heartbeat_period=ControllerSettings.heartbeat_period,  # until the controller says its own
                 heartbeat_timeout=EngineSettings.heartbeat_timeout,
                 give_up_after=EngineSettings.controller_timeout, policy=None):
        self.reactor = reactor
        self.furl_source = furl_source  # () -> FURL; re-read on every attempt
        self.furl = None
        self.handler = handler  # on_registered(id), on_message(header, buffers), on_read_done(), on_stopped(error)
        self.desired_id = desired_id
        self.heartbeat_period = heartbeat_period
        self.heartbeat_timeout = heartbeat_timeout
        self.give_up_after = give_up_after
        self.policy = policy or backoff_policy(maximum=EngineSettings.reconnect_max_delay)
        self.state = "idle"
        self.last_error = None
        self.protocol = None
        self.engine_id = None
        self._attempt = 0
        self._hint = 0
        self._lost_since = None
        self._heartbeat = LoopingCall(self._check)
        self._heartbeat.clock = reactor
        self._stopping = False
        self._closed = None  # stop()'s Deferred

    def start(self):
        self._lost_since = self.reactor.seconds()
        self._connect()

    def stop(self):
        """Stop reconnecting and close the connection; a Deferred that fires once it is closed."""
        self._stopping = True
        if self._heartbeat.running:
            self._heartbeat.stop()
        if self.protocol is None:
            return defer.succeed(None)
        if self._closed is None:
            self._closed = defer.Deferred()
            self.protocol.close()  # after the last reply (kill's, say) is written
        return self._closed

    # -- connecting ---------------------------------------------------------

    def _connect(self):
        if self._stopping:
            return
        self.furl = self.furl_source()
        host, port = self.furl.hints[self._hint % len(self.furl.hints)]
        self._hint += 1
        self.state = "connecting"
        factory = Factory.forProtocol(
            lambda: ClientProtocol(
                self.furl.swissnum, "engine", self.reactor,
                self._welcomed, self.handler.on_message, self._lost, self.handler.on_read_done,
            )
        )
        factory.noisy = False
        tls = TLSStreamFactory(factory, client_context(), False, pin_check(self.furl.tubid))
        d = transport.connect(self.reactor, host, port, tls, timeout=CONNECT_TIMEOUT)
        d.addErrback(lambda f: self._retry(f"{host}:{port}: {f.getErrorMessage()}"))

    def _retry(self, error):
        if self._stopping:
            return  # an attempt still under way when the engine stopped (the reactor's shutdown ended it)
        self.last_error = error
        self.state = "waiting"
        waited = self.reactor.seconds() - self._lost_since
        if waited > self.give_up_after:
            self.log.error("no controller for {s:.0f} s (last error: {e}); giving up", s=waited, e=error)
            self.handler.on_stopped(f"no controller for {waited:.0f} s: {error}")
            return
        delay = self.policy(self._attempt)
        self._attempt += 1
        self.log.info("cannot reach the controller ({e}); retrying in {d:.2f} s", e=error, d=delay)
        self.reactor.callLater(delay, self._connect)

    def _welcomed(self, protocol):
        self.protocol = protocol
        self.state = "registering"
        mismatch = versions.conflict(versions.local(), protocol.peer_versions, "this engine", "the controller")
        if mismatch:
            self.log.warn("{mismatch}", mismatch=mismatch)
        protocol.send(messages.Register.header(
            desired_id=self.desired_id, pid=os.getpid(), host=socket.gethostname(), host_key=shm.host_key(),
            versions=versions.local()))

    # -- the connection's messages, decoded by the handler (EngineCore.on_message) ---------------

    def registered(self, header):
        """The controller's ``registered``: the engine has its id."""
        self.engine_id = header["id"]
        self.state = "connected"
        self._attempt = 0
        self._lost_since = None
        self.last_error = None
        self.log.info("engine registration succeeded, got id: {id}", id=self.engine_id)
        self.follow(header)
        self.handler.on_registered(self.engine_id)

    def beat(self, header):
        """The controller's ``hb``: answered at once."""
        self.answer_beat()
        self.follow(header)

    def answer_beat(self):
        """Answer the controller's beat; from the reactor's thread, or the engine's stand-in while it is away."""
        self.protocol.send_encoded(ANSWER)

    def drop(self, error):
        """Close the connection because of ``error`` (the reason ``last_error`` will give)."""
        self.protocol.failure = error
        self.protocol.transport.loseConnection()

    def follow(self, header):
        """Take the controller's heartbeat period and timeout, where ``header`` gives them."""
        self.heartbeat_timeout = header.get("heartbeat_timeout") or self.heartbeat_timeout
        period = header.get("heartbeat_period") or self.heartbeat_period
        if period != self.heartbeat_period or not self._heartbeat.running:
            self.heartbeat_period = period
            if self._heartbeat.running:
                self._heartbeat.stop()
            self._heartbeat.start(period, now=False)

    def _silent(self):
        return self.reactor.seconds() - self.protocol.last_received  # a big frame arriving counts

    def _check(self):
        if self.protocol is not None and self._silent() > self.heartbeat_timeout:
            # the verdict waits a turn of the reactor: its timers run before its reads, so after a
            # stall of this process what the controller sent meanwhile may still wait unread
            self.reactor.callLater(0, self._give_up_if_silent, self.protocol)

    def _give_up_if_silent(self, protocol):
        silent = self._silent() if protocol is self.protocol else 0
        if silent > self.heartbeat_timeout:
            self.log.warn("controller silent for {s:.1f} s; reconnecting", s=silent)
            protocol.transport.abortConnection()

    def _lost(self, protocol, error):
        was_registered = protocol.welcomed and self.engine_id is not None
        if self.protocol is protocol:
            self.protocol = None
        if self._heartbeat.running:
            self._heartbeat.stop()
        if self._stopping:
            self.state = "stopped"
            closed, self._closed = self._closed, None
            if closed is not None:
                closed.callback(None)
            return
        if isinstance(error, PERMANENT):
            self.state = "refused"
            self.last_error = str(error)
            self.log.error("connection refused for good: {e}", e=error)
            self.handler.on_stopped(str(error))
            return
        if was_registered:  # the commands it sent and their replies are dropped (EngineCore)
            self.log.warn("lost the controller ({e}); will re-register when it returns", e=error)
            self.engine_id = None
            self._lost_since = self.reactor.seconds()
        if self._lost_since is None:
            self._lost_since = self.reactor.seconds()
        self._retry(str(error))
