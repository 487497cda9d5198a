"""The thread that completes a connection's futures while nobody is blocked in a call.

The connection is a blocking socket: a call reads until its own reply
comes. A future must complete without such a call (``concurrent.futures.wait``,
``add_done_callback``, ``await`` in an event loop), so while any future of a
connection is pending, a reader thread owns the socket's reading: it waits
for bytes (``poll``, without the connection's lock), takes in what arrived
(with the lock, never blocking on an empty socket) and completes each future
whose replies are all in, outside the lock. It starts with the first future
and ends when none is left, so calls made with no future pending read the
socket themselves, exactly as before. While it runs, a blocking call waits
on the connection's condition for the reader to file its reply.

A watched request's reply belongs to the reader from the moment it is read,
by whichever thread: it is kept here, not among the connection's replies,
so nothing else can take or drop it. A future tells the reader:

- ``rids``: the requests it waits for;
- ``settle(replies, error)``: every reply is in (``error``: the first one
  that failed, ResultAlreadyRetrieved for a request flushed meanwhile);
  it completes, or returns True to be asked again;
- ``resumable``: whether, when the connection drops first, it is asked
  again (``ask()`` sends its requests anew) once the controller can be
  reached; otherwise ``fail(error)`` completes it with the ConnectionLost.

Asking again is retried with backoff (``kernel.retry``) for as long as the
client is open: ``close()`` fails the futures still waiting.
"""

import os
import select
import threading
import time

from twisted.logger import Logger

from kernel import errors
from kernel.retry import backoff_policy

POLL_MOST = 5.0  # seconds between looks at the state even if nothing wakes the thread
RECONNECT_POLICY = backoff_policy(initial=0.1, maximum=5.0)  # attempt -> seconds before asking again

log = Logger()


class Reader:
    """One connection's reader thread and the futures it completes.

    Every method but the thread's own runs with the connection's lock held
    (``Connection.watch``, ``Connection.poll`` and the connection's hooks).
    """

    def __init__(self, connection):
        self.connection = connection
        self.futures = {}  # rid -> the future waiting for it
        self.replies = {}  # rid -> (header, buffers), or the exception its request ended with
        self.noted = set()  # rids answered since the thread last looked
        self.dropped = []  # (future, ConnectionLost, closed) of the connections that dropped
        self.resuming = []  # futures to ask again once the controller is back
        self.attempt = 0
        self.retry_at = 0.0
        self.waiters = 0  # calls blocked in Connection.wait until the thread files their reply
        self.losses = 0  # how many drops were seen (a waiter's reply may be lost with one)
        self.thread = None
        self._wake_r = self._wake_w = None

    # -- with the connection's lock held ------------------------------------------

    def serving(self):
        """Whether the thread runs and another thread is asking (so that one must not read)."""
        return self.thread is not None and threading.current_thread() is not self.thread

    def add(self, future):
        """Complete ``future`` once its replies are in; start the thread if it is not running."""
        connection = self.connection
        for rid in future.rids:
            self.futures[rid] = future
            if rid in connection._ready:  # answered before it was watched
                self.claim(rid, connection._ready.pop(rid))
            elif rid not in connection._waiting:  # flushed, or lost with the connection
                self.claim(rid, errors.ResultAlreadyRetrieved(f"no outstanding request {rid}"))
        if self.thread is None:
            self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            self.thread = threading.Thread(target=self._serve, name="kernel-client-reader", daemon=True)
            self.thread.start()
        elif self.noted:
            self.wake()

    def claim(self, rid, reply):
        """Keep the reply to ``rid`` if a future waits for it; whether it does."""
        if rid not in self.futures:
            return False
        self.connection._waiting.discard(rid)
        self.replies[rid] = reply
        self.noted.add(rid)
        if threading.current_thread() is not self.thread:
            self.wake()
        return True

    def take(self, future):
        """``(replies, first error)`` of ``future`` once all are in (it is then no longer watched), else None."""
        if not all(rid in self.replies for rid in future.rids):
            return None
        replies, error = [], None
        for rid in future.rids:
            self.futures.pop(rid, None)
            reply = self.replies.pop(rid)
            if isinstance(reply, Exception):
                error = error or reply
            else:
                try:
                    replies.append(self.connection.answer_of(reply))
                except Exception as e:
                    error = error or e
        return replies, error

    def note_lost(self, error, closed=False):
        """The connection dropped (``closed``: the client closed it): the requests not answered are lost."""
        self.losses += 1
        for future in dict.fromkeys(self.futures.values()):
            if not all(rid in self.replies for rid in future.rids):
                for rid in future.rids:
                    self.futures.pop(rid, None)
                    self.replies.pop(rid, None)
                self.dropped.append((future, error, closed))
        if closed:
            self.dropped += [(future, error, True) for future in self.resuming]
            self.resuming = []
        self.wake()
        self.connection._arrived.notify_all()

    def wake(self):
        """Make the thread look at the state now (a byte on its pipe)."""
        if self._wake_w is not None:
            try:
                os.write(self._wake_w, b"x")
            except BlockingIOError:
                pass  # the pipe is full: the thread is woken already

    # -- the thread ---------------------------------------------------------------

    def _serve(self):
        try:
            while self._turn():
                pass
        except BaseException as e:  # a bug here must not leave futures waiting for ever
            log.failure("the client's reader thread failed")
            self._fail_all(e)
            raise

    def _turn(self):
        """Wait for bytes or a wake-up, take in what came, complete what is due; False to end."""
        connection = self.connection
        with connection._lock:
            if not (self.futures or self.resuming or self.waiters or self.noted or self.dropped):
                self._stop()
                return False
            sock = connection._sock
            fds = [self._wake_r] + ([sock.fileno()] if sock is not None else [])
            busy = self.noted or self.dropped or (sock is not None and connection._readable())
            timeout = 0.0 if busy else self._sleep()
        if timeout:
            poller = select.poll()
            for fd in fds:
                poller.register(fd, select.POLLIN)
            poller.poll(timeout * 1000)
        with connection._lock:
            self._empty_pipe()
            if connection._sock is not None:
                try:
                    connection.drain()
                except errors.ConnectionLost:
                    pass  # _lost told us
            answered = [(f, taken) for f in self._noted_futures() if (taken := self.take(f)) is not None]
            dropped, self.dropped = self.dropped, []
            if self.waiters:
                connection._arrived.notify_all()
        for future, (replies, error) in answered:
            if future.settle(replies, error):
                self._ask_again(future)
        for future, error, closed in dropped:
            if future.resumable and not closed:
                self._ask_again(future)
            else:
                future.fail(error)
        self._resume()
        return True

    def _noted_futures(self):
        noted, self.noted = self.noted, set()
        return dict.fromkeys(self.futures[rid] for rid in noted if rid in self.futures)

    def _ask_again(self, future):
        with self.connection._lock:
            self.resuming.append(future)

    def _sleep(self):
        """Seconds to wait for a wake-up: until the next retry, else POLL_MOST."""
        if self.resuming:
            return max(0.001, min(POLL_MOST, self.retry_at - time.monotonic()))
        return POLL_MOST

    def _resume(self):
        """Ask the futures of a dropped connection again, once it is time to try."""
        connection = self.connection
        with connection._lock:
            if not self.resuming or time.monotonic() < self.retry_at:
                return
            waiting, self.resuming = self.resuming, []
        for i, future in enumerate(waiting):
            if future.done():
                continue
            try:
                future.ask()
            except (errors.ConnectionLost, OSError):  # the controller is still away: later
                with connection._lock:
                    self.resuming[:0] = waiting[i:]
                    self.retry_at = time.monotonic() + RECONNECT_POLICY(self.attempt)
                    self.attempt += 1
                return
            with connection._lock:
                self.add(future)
        self.attempt = 0

    def _empty_pipe(self):
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _stop(self):
        for fd in (self._wake_r, self._wake_w):
            if fd is not None:
                os.close(fd)
        self._wake_r = self._wake_w = None
        self.thread = None

    def _fail_all(self, error):
        with self.connection._lock:
            futures = set(self.futures.values()) | set(self.resuming) | {f for f, _, _ in self.dropped}
            self.futures.clear()
            self.replies.clear()
            self.resuming.clear()
            self.dropped.clear()
            self.noted.clear()
            self._stop()
            self.connection._arrived.notify_all()
        for future in futures:
            future.fail(error)
