"""The engine process: the reactor and user code on the main thread, and a stand-in for long commands.

User code runs on the main thread so that an interrupt is a real SIGINT
(KeyboardInterrupt even inside ``time.sleep``, and in a loop that never
releases the GIL). The reactor runs there too, with
``reactor.run(installSignalHandlers=False)``: a command is queued as it is
decoded and run once all that the read which brought it has been handed up
(``on_read_done``), and its reply is written to the socket at once. A tiny
command costs no thread switch; handing each one to a thread of its own
cost 35-40 µs of a 250 µs call (docs/architecture.md).

While commands run, the reactor does not. Once they have kept it away for
``STAND_IN_AFTER`` seconds, the stand-in thread (``kernel.engine.standin``)
serves the connection until they are done, so heartbeats, interrupts,
cancels, the rest of a big reply and printed output keep flowing however
long a command computes. Idle, the reactor sleeps in its poll and the
stand-in on a lock: no timer wakes either of them.
"""

import signal
import threading
from collections import deque

from kernel.engine import methods, replies
from kernel.engine.core import STOP, EngineCore
from kernel.engine.standin import StandIn
from kernel.wire import messages

CLOSE_WAIT = 5.0  # seconds the last replies and the goodbye may take to go out
# what the stand-in acts on at once; the rest of what it reads waits for the reactor's thread
STAND_IN_OPS = frozenset(m.op for m in (messages.Call, messages.Interrupt, messages.Cancel, messages.Bye))


class Inbox:
    """The engine's queued items, run in arrival order on the reactor's thread.

    What a read brings is run right after the read (``after_read``): every
    message of it is handed up first, so an interrupt or a cancel that came
    with a call is seen before the call starts. What is put outside a read
    (a signal's STOP, a lost connection) runs on the reactor's next turn.
    ``put`` is called on the reactor's thread, or by the stand-in while
    that thread is away running the items (``draining`` is then set, so
    nothing is run or scheduled from the stand-in's thread).
    """

    def __init__(self, reactor, drain):
        self.items = deque()
        self.draining = False  # a run is scheduled or under way
        self.reading = False  # the reactor's thread is handing up a read: after_read runs what it brings
        self._reactor = reactor
        self._drain = drain

    def put(self, item):
        self.items.append(item)
        if not self.draining and not self.reading:
            self.draining = True
            self._reactor.callLater(0, self._drain)

    def after_read(self):
        """The read is handed up: run what it brought, now."""
        self.reading = False
        if self.items and not self.draining:
            self.draining = True
            self._drain()


class Engine(EngineCore):
    def __init__(self, reactor, furl_source, **options):
        super().__init__(reactor, furl_source, **options)
        self.busy = False  # user code may be running: an interrupt is for it
        self.inbox = Inbox(reactor, self._drain)
        self.standin = StandIn(self)
        self._main_thread = threading.main_thread().ident

    def interrupt(self):
        """A SIGINT to the main thread while a command runs; from any thread."""
        if self.busy:
            signal.pthread_kill(self._main_thread, signal.SIGINT)

    def run(self):
        """Serve commands until stopped; return the process exit code. On the main thread."""
        signal.signal(signal.SIGINT, self._sigint)
        signal.signal(signal.SIGTERM, self._sigterm)
        self.standin.start()
        self.reactor.callWhenRunning(self.connector.start)
        self.reactor.run(installSignalHandlers=False)
        return self.exit_code

    def on_message(self, header, buffers):
        """As ``EngineCore``'s; read by the stand-in, only what cannot wait for the command is acted on now."""
        if not self.standin.serving:  # read by the reactor's thread
            self.inbox.reading = True
            super().on_message(header, buffers)
            return
        op = header.get("op")
        if op in STAND_IN_OPS:
            super().on_message(header, buffers)
        elif op == messages.Heartbeat.op:
            self.connector.answer_beat()
            self.reactor.callFromThread(self.connector.follow, header)
        else:
            self.reactor.callFromThread(super().on_message, header, buffers)

    def on_read_done(self):
        if not self.standin.serving:  # what the stand-in's reads bring is run once the reactor's thread is back
            self.inbox.after_read()

    def _drain(self):
        """Run the queued items in order, the stand-in watching; on the reactor's thread.

        Should an item raise (a bug: user code's exceptions are replies), the
        stand-in still lets go of the connection and later items still run.
        """
        items, stop = self.inbox.items, False
        try:
            while True:
                self.standin.leave()
                try:
                    while items and not stop:
                        stop = not self._handle(items.popleft())
                finally:
                    served = self.standin.back()
                if stop or not served or not items:  # else: run what the stand-in queued
                    break
        finally:
            self.inbox.draining = stop  # after STOP nothing more runs
        if stop:
            self._close()

    def _dispatch(self, header, buffers):
        self.busy = True
        try:
            try:
                self.stop_if_interrupted(header)
                return methods.dispatch(self.interpreter, header, buffers)
            finally:
                self.busy = False
        except KeyboardInterrupt as e:  # arrived between user code and the reply
            return replies.failure(header, e)

    def _sigint(self, signum, frame):
        if self.busy:
            raise KeyboardInterrupt("interrupted by the controller")

    def _sigterm(self, signum, frame):
        self.reactor.callFromThread(self.inbox.put, STOP)  # Twisted's own way out of a signal handler

    def _close(self):
        """Leave the controller: what was sent goes out, then TLS's goodbye, within CLOSE_WAIT s; then stop."""
        self.inbox.items.clear()
        stop = self.reactor.callLater(CLOSE_WAIT, self.reactor.stop)  # connections still open are closed

        def closed(_):
            if stop.active():
                stop.cancel()
                self.reactor.stop()

        self.connector.stop().addBoth(closed)
