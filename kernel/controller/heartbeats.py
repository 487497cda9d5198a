"""The controller's heartbeats: engines that go silent are unregistered, at a cost that does not grow with N.

The controller asks and the engine answers: a round runs every
``heartbeat_period`` seconds and sends a ``hb`` to each engine that it has
neither written to nor heard from within the period; the engine's network
thread answers each one at once (``kernel.engine.connector``). A connection
that carried a command or a reply within the period gets no beat either way,
so a busy engine costs nothing here, and the answers of one round arrive
together, read in a few wake-ups of the reactor rather than one per engine.
An engine silent for longer than the timeout is unregistered and its
connection aborted, once a turn of the reactor has read what waits (each
side judges silence so, after a stall of its own process); a dead process
is noticed sooner, by its connection closing.

With many engines the period grows so that the controller sends at most
``heartbeat_rate`` beats a second, and the timeout grows in proportion (as
dask's scheduler does, ``distributed.scheduler.heartbeat_interval``)::

    period(n)  = max(heartbeat_period, n / heartbeat_rate)
    timeout(n) = heartbeat_timeout × period(n) / heartbeat_period

Each beat carries the period and timeout of the moment, so engines follow
the cluster as it grows; it is encoded once per round for every engine. An
engine is beaten by the period it was last told, not that of the moment: one
told 2 s while the cluster was small gives the controller up after 2 s of
silence, however long the period has grown since.
"""

import math

from twisted.internet.task import LoopingCall

from kernel.settings import ControllerSettings
from kernel.wire import framing, messages


def scaled(engines, period, timeout, rate):
    """``(period, timeout)`` for ``engines`` engines: the formula of this module's docstring."""
    longer = max(period, engines / rate)
    return longer, timeout * longer / period


class Heartbeats:
    """Runs the rounds for one ``EngineRegistry``."""

    def __init__(self, registry, clock, period=ControllerSettings.heartbeat_period,
                 timeout=ControllerSettings.heartbeat_timeout, rate=ControllerSettings.heartbeat_rate):
        self.registry = registry
        self.clock = clock
        self.period = period  # between rounds, and between beats to an idle engine of a small cluster
        self.timeout = timeout
        self.rate = rate
        self._frame = None  # (period, timeout, the encoded beat)
        self._loop = LoopingCall(self._round)
        self._loop.clock = clock

    def now(self):
        """``(period, timeout)`` for the engines registered now."""
        return scaled(len(self.registry.engines), self.period, self.timeout, self.rate)

    def start(self):
        self._loop.start(self.period, now=False)

    def stop(self):
        if self._loop.running:
            self._loop.stop()

    def _beat_frame(self, period, timeout):
        if self._frame is None or self._frame[:2] != (period, timeout):
            header = messages.Heartbeat.header(heartbeat_period=period, heartbeat_timeout=timeout)
            self._frame = (period, timeout, framing.encode(header))
        return self._frame[2]

    def _round(self):
        now = self.clock.seconds()
        period, timeout = self.now()
        budget = math.ceil(self.rate * self.period)  # beats this round; the rest go next round
        frame = self._beat_frame(period, timeout)
        silent = []
        for handle in list(self.registry.engines.values()):
            session = handle.session
            heard = session.last_heard()
            # due by the period the engine was last told: one that joined a smaller cluster
            # expects to hear from the controller sooner than the period of the moment
            due = now - (min(period, session.told_period) - self.period / 2)
            if now - heard > timeout:
                silent.append(handle)
            elif budget and (heard < due or session.last_sent < due):
                session.send_encoded(frame)
                session.told_period = period
                budget -= 1
        if silent:
            # the verdict waits a turn of the reactor: its timers run before its reads, so after a
            # stall of this process what the engines sent meanwhile may still wait unread
            self.clock.callLater(0, self._unregister_if_silent, silent, timeout)

    def _unregister_if_silent(self, handles, timeout):
        now = self.clock.seconds()
        for handle in handles:
            silence = now - handle.session.last_heard()
            if silence > timeout and self.registry.get(handle.id) is handle:
                self.registry.unregister(handle, f"no heartbeat for {silence:.1f} s")
                handle.session.abort()
