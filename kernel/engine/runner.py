"""The engine process: networking on a reactor thread, user code on the main thread.

User code runs on the main thread so that an interrupt is a real SIGINT
(KeyboardInterrupt even inside ``time.sleep``), and so heartbeats, queue
status and interrupts keep flowing while it computes.
"""

import queue
import signal
import threading

from twisted.logger import Logger

from kernel.engine import methods, replies
from kernel.engine.connector import EngineConnector
from kernel.engine.interpreter import Interpreter
from kernel.errors import QueueCleared

_STOP = object()


class Engine:
    log = Logger()

    def __init__(self, reactor, furl_source, mpi=None, desired_id=None, **connector_options):
        self.reactor = reactor
        self.interpreter = Interpreter(mpi=mpi)
        self.connector = EngineConnector(reactor, furl_source, self, desired_id=desired_id, **connector_options)
        self.inbox = queue.SimpleQueue()
        self.busy = False
        self.cancelled = set()
        self.last_started = 0  # cids grow: a cancel for an older one comes too late
        self.generation = 0
        self.exit_reason = None
        self.exit_code = 0
        self._main_thread = threading.main_thread().ident

    # -- reactor thread -----------------------------------------------------

    def on_registered(self, engine_id):
        self.generation += 1
        self.last_started = 0  # a new controller numbers its commands afresh
        self.cancelled.clear()
        self.inbox.put(("set_id", engine_id))

    def on_unregistered(self):
        self.generation += 1  # commands from the lost connection are dropped

    def on_stopped(self, error):
        self.exit_reason = error
        self.exit_code = 1
        self.inbox.put(_STOP)

    def on_message(self, header, buffers):
        op = header["op"]
        if op == "call":
            self.inbox.put(("call", (self.generation, header, buffers)))
        elif op == "interrupt":
            if self.busy:
                signal.pthread_kill(self._main_thread, signal.SIGINT)
        elif op == "cancel":  # only commands not started yet can be cancelled
            self.cancelled.update(c for c in header.get("cids", ()) if c > self.last_started)
        elif op == "bye":
            self.log.info("the controller is shutting down")
        else:
            self.log.warn("ignoring unknown message {op!r}", op=op)

    def _reply(self, generation, header, buffers):
        def send():
            if generation == self.generation:  # not to a newer connection
                self.connector.send(header, buffers)

        self.reactor.callFromThread(send)

    # -- main thread ----------------------------------------------------------

    def run(self):
        """Serve commands until stopped; return the process exit code."""
        signal.signal(signal.SIGINT, self._sigint)
        signal.signal(signal.SIGTERM, lambda *_: self.inbox.put(_STOP))
        return self._serve()

    def _next_item(self):
        """The next inbox item; an interrupt that arrives while idle is ignored."""
        while True:
            try:
                return self.inbox.get()
            except KeyboardInterrupt:
                continue

    def _serve(self):
        """Connect, run inbox items until stopped, disconnect; return the exit code."""
        self.reactor.callFromThread(self.connector.start)
        while True:
            item = self._next_item()
            if item is _STOP:
                break
            kind, value = item
            if kind == "set_id":
                self.interpreter.set_id(value)
            elif kind == "call":
                generation, header, buffers = value
                if generation == self.generation:
                    self._call(generation, header, buffers)
        self.reactor.callFromThread(self.connector.stop)
        return self.exit_code

    def _drop_if_cancelled(self, generation, header):
        """Reply QueueCleared and return True if this command was cancelled before it started."""
        if header.get("cid") not in self.cancelled:
            return False
        self.cancelled.discard(header["cid"])
        self._reply(generation, *replies.failure(header, QueueCleared(
            f"{header.get('method')} was removed from engine {self.interpreter.engine_id}'s queue")))
        return True

    def _sigint(self, signum, frame):
        if self.busy:
            raise KeyboardInterrupt("interrupted by the controller")

    def _call(self, generation, header, buffers):
        self.last_started = max(self.last_started, header.get("cid", 0))
        if self._drop_if_cancelled(generation, header):
            return
        self.busy = True
        try:
            reply, out = methods.dispatch(self.interpreter, header, buffers)
        except KeyboardInterrupt as e:  # arrived between user code and the reply
            reply, out = replies.failure(header, e)
        finally:
            self.busy = False
        self._reply(generation, reply, out)
        if header.get("method") == "kill":
            self.inbox.put(_STOP)
