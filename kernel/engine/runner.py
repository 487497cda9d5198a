"""The engine process: the reactor and user code share the main thread.

User code runs on the main thread so that an interrupt is a real SIGINT
(KeyboardInterrupt even inside ``time.sleep``). The reactor runs there too,
between commands, so a command goes from the socket to user code and its
reply back to the socket with no hand-off between threads: on a small
machine each hand-off (waking the other thread, passing it the GIL) cost
about as much as running a tiny command.

While a command runs, the reactor is lent out: the main thread releases the
reactor's turn before user code starts and takes it back before replying.
A watch thread takes the turn once the reactor has not run for
``QUIET_MOST`` seconds, and serves the network until the command ends, so
heartbeats, interrupts, cancels and the next commands keep flowing however
long the command computes. Whoever holds the turn is the only thread in
Twisted; commands that arrive meanwhile wait, in order, for the main thread.
"""

import signal
import threading
import time
from collections import deque

from kernel.engine import methods, replies
from kernel.engine.core import STOP, EngineCore

QUIET_MOST = 0.05  # seconds the reactor may go unserved while a command runs
PARK_AFTER = 1.0  # seconds with no command seen running before the watch thread sleeps until one starts
CLOSE_WAIT = 5.0  # seconds the last replies and the goodbye may take to go out


class Engine(EngineCore):
    def __init__(self, reactor, furl_source, **options):
        super().__init__(reactor, furl_source, **options)
        self.pending = deque()  # items for the main thread, in arrival order
        self.busy = False
        self._turn = threading.Lock()  # held by the thread running the reactor
        self._turn_wanted = False
        self._last_turn = time.monotonic()
        self._watch_parked = False
        self._unpark = threading.Event()
        self._stopping = False
        self._main_thread = threading.main_thread().ident

    # -- from the connector -----------------------------------------------------

    def _enqueue(self, item):
        self.pending.append(item)

    def _interrupt(self):
        if self.busy:
            signal.pthread_kill(self._main_thread, signal.SIGINT)

    # -- the main thread ----------------------------------------------------------

    def run(self):
        """Serve commands until stopped; return the process exit code."""
        signal.signal(signal.SIGINT, self._sigint)
        signal.signal(signal.SIGTERM, self._sigterm)
        watch = threading.Thread(target=self._watch, name="network-watch", daemon=True)
        with self._turn:
            # the reactor's startup triggers start its thread pool, which resolves host names
            self.reactor.startRunning(installSignalHandlers=False)
            watch.start()
            self.connector.start()
            try:
                self._serve()
            finally:
                self._stopping = True
                self._close()
        watch.join(1.0)
        return self.exit_code

    def _serve(self):
        while True:
            self._reactor_turn(None)
            while self.pending:
                if not self._handle(self.pending.popleft()):
                    return
                if time.monotonic() - self._last_turn > QUIET_MOST:
                    self._reactor_turn(0)  # a long run of commands still lets the network in

    def _reactor_turn(self, most):
        """Run the reactor's due timers and one poll that waits at most ``most`` s.

        ``None`` is the idle main thread's wait: until a timer is due, or not
        at all while items are pending for it.
        """
        reactor = self.reactor
        reactor.runUntilCurrent()
        delay = reactor.timeout()
        if most is None:
            delay = 0 if self.pending else delay
        else:
            delay = most if delay is None else min(delay, most)
        try:
            reactor.doIteration(delay)
        except Exception:
            self.log.failure("unexpected error in the engine's event loop")
        self._last_turn = time.monotonic()

    def _dispatch(self, header, buffers):
        self.busy = True
        if self._watch_parked:
            self._unpark.set()
        self._turn.release()  # the watch thread may serve the network meanwhile
        try:
            try:
                return methods.dispatch(self.interpreter, header, buffers)
            finally:
                self.busy = False
        except KeyboardInterrupt as e:  # arrived between user code and the reply
            return replies.failure(header, e)
        finally:
            self._take_turn()

    def _take_turn(self):
        if self._turn.acquire(blocking=False):
            return
        self._turn_wanted = True
        self.reactor.wakeUp()  # the watch thread leaves its poll and hands the turn back
        self._turn.acquire()
        self._turn_wanted = False

    def _reply(self, generation, header, buffers):
        self._send_if_current(generation, header, buffers)  # the main thread holds the reactor's turn

    def _sigint(self, signum, frame):
        if self.busy:
            raise KeyboardInterrupt("interrupted by the controller")

    def _sigterm(self, signum, frame):
        self.pending.append(STOP)
        self.reactor.wakeUp()

    def _close(self):
        """Leave the controller: what was sent goes out, then TLS's goodbye, within CLOSE_WAIT s."""
        self._unpark.set()  # the watch thread sees _stopping and ends
        self.connector.stop()
        deadline = time.monotonic() + CLOSE_WAIT
        while self.connector.protocol is not None and time.monotonic() < deadline:
            self._reactor_turn(0.1)
        self.reactor.stop()
        self.reactor.runUntilCurrent()  # the shutdown: connections still open are closed

    # -- the watch thread -------------------------------------------------------------

    def _watch(self):
        """Serve the network while a command runs longer than QUIET_MOST.

        It looks every QUIET_MOST seconds while commands come, and sleeps
        once none has been seen running for PARK_AFTER seconds, until the
        next one starts: an idle engine costs no wake-ups.
        """
        idle_since = time.monotonic()
        while not self._stopping:
            if time.monotonic() - idle_since > PARK_AFTER:
                self._park()
                idle_since = time.monotonic()
            time.sleep(QUIET_MOST)
            if not self.busy:
                continue
            idle_since = time.monotonic()
            if time.monotonic() - self._last_turn < QUIET_MOST:
                continue
            if not self._turn.acquire(blocking=False):
                continue  # the command has just ended
            try:
                while self.busy and not self._turn_wanted and not self._stopping:
                    self._reactor_turn(QUIET_MOST)
            finally:
                self._turn.release()

    def _park(self):
        self._watch_parked = True
        if not self.busy:  # a command that started before the flag was seen is not waited out
            self._unpark.wait()
        self._unpark.clear()
        self._watch_parked = False
