"""Engines whose command loops run in threads of the current process.

A real engine runs user code on its process's main thread so that an
interrupt is a SIGINT. A :class:`ThreadEngine` runs the same command loop on
a thread of its own, next to other engines and a reactor running in another
thread: useful for tests and for trying the cluster out without processes.
It talks to the controller over TLS like any engine.

An interrupt is raised asynchronously in the engine's thread
(``asyncexc``), so it stops Python code (a loop, a sequence of short sleeps)
but not one long blocking call such as a single ``time.sleep(100)``, which it
stops only once the call returns.
"""

import queue
import threading

from kernel.engine import asyncexc, methods, replies
from kernel.engine.core import STOP, EngineCore


class ThreadEngine(EngineCore):
    """An engine served by a thread; ``reactor`` must be running in another thread."""

    def __init__(self, reactor, furl_source, **options):
        super().__init__(reactor, furl_source, **options)
        self.inbox = queue.SimpleQueue()  # items for the engine's thread, in arrival order
        self.thread = None
        self._lock = threading.Lock()
        self._busy = False

    def start(self, name="engine"):
        self.thread = threading.Thread(target=self.run, name=name, daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout=10.0):
        """Leave the controller and end the thread."""
        self.inbox.put(STOP)
        if self.thread is not None:
            self.thread.join(timeout)

    @property
    def alive(self):
        return self.thread is not None and self.thread.is_alive()

    def interrupt(self):
        """A KeyboardInterrupt raised in the engine's thread while a command runs; from any thread."""
        with self._lock:
            if self._busy:
                asyncexc.raise_in(self.thread.ident, KeyboardInterrupt)

    # -- engine thread ----------------------------------------------------------

    def run(self):
        """Connect, run inbox items until stopped, disconnect; return the exit code."""
        self.reactor.callFromThread(self.connector.start)
        self.serve()
        self.reactor.callFromThread(self.connector.stop)
        return self.exit_code

    def serve(self):
        """Run queued items until one ends the loop."""
        while self._handle(self.inbox.get()):
            pass

    def _dispatch(self, header, buffers):
        try:
            try:
                with self._lock:
                    self._busy = True
                self.stop_if_interrupted(header)
                return methods.dispatch(self.interpreter, header, buffers)
            finally:
                self._quiesce()
        except KeyboardInterrupt as e:  # arrived between user code and the reply
            return replies.failure(header, e)

    def _quiesce(self):
        """Stop accepting interrupts and drop one that is pending but not yet raised."""
        while True:
            try:
                with self._lock:
                    self._busy = False
                    asyncexc.clear(self.thread.ident)
                return
            except KeyboardInterrupt:
                continue
