"""The thread that serves an engine's connection while its reactor's thread is away running commands.

An engine process runs its reactor and its user code on one thread, the
main one (``kernel.engine.runner``): a command runs right after the read
that brought it, with no thread switch. While commands run, the reactor
does not. If they keep it away for longer than ``after`` seconds, this
thread takes the connection over until they are done: it reads and
decodes what arrives (heartbeats are answered, interrupts and cancels act
at once, further commands queue), keeps a big reply going out as the socket
takes it, and sends the running command's printed output every
``FLUSH_EVERY`` seconds. Anything else it read waits for the reactor's next
turn (``callFromThread``), and so does a connection it finds lost. It gets
the GIL back every switch interval (5 ms) however the command holds it.

Waking this thread costs as much as the hand-off of a command between two
threads, so it is not woken per command: it looks every ``after`` seconds
while commands keep coming, and sleeps on a lock, with no timer, once a look
finds none has begun since the last.
"""

import os
import select
import threading
import time

from kernel.engine.outputstream import FLUSH_EVERY

STAND_IN_AFTER = 0.01  # seconds the reactor's thread may be away before this one serves its connection


class StandIn:
    """Watches the reactor's thread of ``engine`` (a ``runner.Engine``) and serves its connection while it is away."""

    def __init__(self, engine, after=STAND_IN_AFTER):
        self.engine = engine
        self.after = after
        self.serving = False  # this thread has the connection
        self._runs = 0  # runs of queued commands begun by the reactor's thread
        self._away = False  # the reactor's thread is in one now
        self.watching = False  # this thread looks every `after` s; else it sleeps on _wake
        self._wake = threading.Lock()
        self._wake.acquire()  # released to wake the thread
        self._guard = threading.Lock()  # who has the connection, and whether the thread sleeps
        self._come_back = None  # the pipe that calls the thread back from the connection
        self._back = threading.Event()  # it has come back
        self.thread = None

    def start(self):
        self._come_back = os.pipe()
        self.thread = threading.Thread(target=self._run, name="stand-in", daemon=True)
        self.thread.start()

    # -- the reactor's thread -------------------------------------------------------------

    def leave(self):
        """The reactor's thread starts on queued commands."""
        self._runs += 1
        self._away = True
        if not self.watching:  # read after _runs is written: see _sleep
            with self._guard:
                if not self.watching:
                    self.watching = True
                    self._wake.release()

    def back(self):
        """The reactor's thread is done with the queued commands; True if this thread served the
        connection meanwhile (it has stopped, and may have queued more)."""
        with self._guard:
            self._away = False
            serving = self.serving
        if not serving:
            return False
        os.write(self._come_back[1], b"\0")
        self._back.wait()
        self._back.clear()
        return True

    # -- this thread ----------------------------------------------------------------------

    def _run(self):
        while True:
            self._wake.acquire()
            self._watch()

    def _watch(self):
        """Look every ``after`` s while commands come; return once a look finds none begun since the last."""
        seen = self._runs
        while True:
            time.sleep(self.after)
            runs, away = self._runs, self._away
            if runs == seen and away:
                self._serve_if_still_away(runs)
            elif runs == seen and self._sleep(seen):
                return
            seen = runs

    def _sleep(self, seen):
        """Stop looking, unless a run began meanwhile. ``watching`` is written before ``_runs`` is read
        here, and ``leave`` writes ``_runs`` before it reads ``watching``: one of the two sees the other."""
        with self._guard:
            self.watching = False
            if self._runs != seen or self._away:
                self.watching = True
                return False
            return True

    def _serve_if_still_away(self, runs):
        with self._guard:
            if not (self._away and self._runs == runs):
                return
            self.serving = True
        try:
            self._serve(self.engine.connector.protocol)
        finally:
            self.serving = False
            self._back.set()

    def _serve(self, protocol):
        """Serve ``protocol`` (a ``FramedProtocol`` over ``TLSStream`` over ``SocketTransport``) until called back."""
        come_back = self._come_back[0]
        socket = protocol.transport.transport if protocol is not None and protocol.connected else None
        poll = select.poll()
        poll.register(come_back, select.POLLIN)
        while True:
            if socket is not None:
                writing = socket.get_write_buffer_size() or protocol.has_outgoing()
                poll.register(socket.fileno(), select.POLLIN | (select.POLLOUT if writing else 0))
            stream = self.engine.stream
            events = dict(poll.poll(FLUSH_EVERY * 1000 if stream is not None else None))
            if come_back in events:
                os.read(come_back, 1)
                return
            if socket is not None:
                ready = events.get(socket.fileno(), 0)
                if not self._serve_socket(socket, protocol, ready):
                    poll.unregister(socket.fileno())
                    socket = None  # lost: the reactor's thread closes it once back
            if stream is not None:
                stream.flush()

    @staticmethod
    def _serve_socket(socket, protocol, ready):
        """Act on ``ready`` (poll's events); False once the connection is found lost."""
        if ready & select.POLLOUT:
            if not socket.send_standing_in():
                return False
            if not socket.get_write_buffer_size():
                protocol.pump()
        return not ready & ~select.POLLOUT or socket.read_standing_in()
