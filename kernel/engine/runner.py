"""The engine process: user code on the main thread, the network on a thread of its own.

User code runs on the main thread so that an interrupt is a real SIGINT
(KeyboardInterrupt even inside ``time.sleep``, and in a loop that never
releases the GIL). The reactor runs on a thread named ``network`` with
``reactor.run(installSignalHandlers=False)``, and never runs user code, so
heartbeats, interrupts, cancels and the rest of a big reply keep flowing
however long a command computes. Commands reach the main thread through the
engine's queue; replies go back with ``callFromThread`` (``core``). Idle,
the main thread sleeps in the queue and the reactor in its poll until the
next heartbeat: no timer wakes either of them.
"""

import signal
import threading

from kernel.engine import methods, replies
from kernel.engine.core import STOP, EngineCore

CLOSE_WAIT = 5.0  # seconds the last replies and the goodbye may take to go out


class Engine(EngineCore):
    def __init__(self, reactor, furl_source, **options):
        super().__init__(reactor, furl_source, **options)
        self.busy = False  # user code may be running: an interrupt is for it
        self._main_thread = threading.main_thread().ident

    def interrupt(self):
        """A SIGINT to the main thread while a command runs; from any thread."""
        if self.busy:
            signal.pthread_kill(self._main_thread, signal.SIGINT)

    def run(self):
        """Serve commands until stopped; return the process exit code. On the main thread."""
        signal.signal(signal.SIGINT, self._sigint)
        signal.signal(signal.SIGTERM, self._sigterm)
        network = threading.Thread(target=self.reactor.run, kwargs={"installSignalHandlers": False},
                                   name="network", daemon=True)
        self.reactor.callWhenRunning(self.connector.start)
        network.start()
        try:
            self.serve()
        finally:
            self._close(network)
        return self.exit_code

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
        self.inbox.put(STOP)  # SimpleQueue.put may be called from a signal handler

    def _close(self, network):
        """Leave the controller: what was sent goes out, then TLS's goodbye, within CLOSE_WAIT s."""
        closed = threading.Event()
        self.reactor.callFromThread(lambda: self.connector.stop().addBoth(lambda _: closed.set()))
        closed.wait(CLOSE_WAIT)
        self.reactor.callFromThread(self.reactor.stop)  # connections still open are closed
        network.join(CLOSE_WAIT)
