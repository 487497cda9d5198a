"""Engines whose command loops run in threads of the current process.

A real engine runs user code on its process's main thread so that an
interrupt is a SIGINT. A :class:`ThreadEngine` runs the same command loop on
a thread of its own, next to other engines and a reactor running in another
thread: useful for tests and for trying the cluster out without processes.
It talks to the controller over TLS like any engine.

An interrupt is raised asynchronously in the engine's thread, so it stops
Python code (a loop, a sequence of short sleeps) but not one long blocking
call such as a single ``time.sleep(100)``, which it stops only once the call
returns.
"""

import ctypes
import threading

from kernel.engine import methods, replies
from kernel.engine.runner import _STOP, Engine

# PyThreadState_SetAsyncExc, typed once to raise an exception type and once to clear.
_raise_in = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi))
_clear = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi))


def _clear_in(thread_id):
    _clear(thread_id, None)


class ThreadEngine(Engine):
    """An engine served by a thread; ``reactor`` must be running in another thread."""

    def __init__(self, reactor, furl_source, **options):
        super().__init__(reactor, furl_source, **options)
        self.thread = None
        self._lock = threading.Lock()
        self._busy = False

    def start(self, name="engine"):
        self.thread = threading.Thread(target=self.run, name=name, daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout=10.0):
        """Leave the controller and end the thread."""
        self.inbox.put(_STOP)
        if self.thread is not None:
            self.thread.join(timeout)

    @property
    def alive(self):
        return self.thread is not None and self.thread.is_alive()

    # -- reactor thread -------------------------------------------------------

    def on_message(self, header, buffers):
        if header["op"] == "interrupt":
            with self._lock:
                if self._busy:
                    _raise_in(self.thread.ident, KeyboardInterrupt)
            return
        super().on_message(header, buffers)

    # -- engine thread ----------------------------------------------------------

    def run(self):
        """Serve commands until stopped (no signal handlers: this is not the main thread)."""
        return self._serve()

    def _next_item(self):
        """The next inbox item (interrupts are raised here only while busy)."""
        return self.inbox.get()

    def _call(self, generation, header, buffers):
        if self._drop_if_cancelled(generation, header):
            return
        try:
            try:
                with self._lock:
                    self._busy = True
                reply, out = methods.dispatch(self.interpreter, header, buffers)
            finally:
                self._quiesce()
        except KeyboardInterrupt as e:  # arrived between user code and the reply
            reply, out = replies.failure(header, e)
        self._reply(generation, reply, out)
        if header.get("method") == "kill":
            self.inbox.put(_STOP)

    def _quiesce(self):
        """Stop accepting interrupts and drop one that is pending but not yet raised."""
        while True:
            try:
                with self._lock:
                    self._busy = False
                    _clear_in(self.thread.ident)
                return
            except KeyboardInterrupt:
                continue
