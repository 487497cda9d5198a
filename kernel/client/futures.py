"""Futures over a client's requests: what ``block=False`` calls, ``tc.submit`` and ``tc.future`` return.

Each is a ``concurrent.futures.Future``: ``concurrent.futures.wait`` and
``as_completed``, ``asyncio.wrap_future`` and ``await`` take it. It is
completed by the connection's reader thread (``kernel.client.reader``) once
it is *armed*; a ``TaskFuture`` is armed when it is made, a ``PendingResult``
the first time it is used as a future (any method of ``Future``, ``await``,
or a wait of ``concurrent.futures``), so a legacy script that only calls
``get_result`` never starts the thread.
"""

import asyncio
import concurrent.futures
import threading
import weakref

from kernel.client.remote import with_remote_cause
from kernel.errors import ConnectionLost, ResultAlreadyRetrieved
from kernel.wire import messages

Future = concurrent.futures.Future


class _ArmOnWait(list):
    """A Future's waiters: ``concurrent.futures.wait`` and ``as_completed`` add one
    before they block, and that arms the future."""

    def __init__(self, future):
        super().__init__()
        self.future = weakref.ref(future)  # no cycle: a dropped legacy result goes at once

    def append(self, waiter):
        self.future()._arm()
        super().append(waiter)


class RequestFuture(Future):
    """A Future completed by the replies to ``rids`` on ``connection``.

    Subclasses say what the replies mean (``_complete(replies, error)``).
    """

    resumable = False  # see kernel.client.reader

    def __init__(self, connection, rids=()):
        super().__init__()
        self._connection = connection
        self.rids = tuple(rids)
        self._armed = False
        self._arming = threading.Lock()
        self._waiters = _ArmOnWait(self)  # Future's own list (tests/unit/test_futures.py checks it is one)

    def _arm(self):
        """Let the connection's reader complete this future (once)."""
        with self._arming:
            if self._armed or Future.done(self):
                return
            self._armed = True
        self._connection.watch(self)

    # -- what the reader calls ------------------------------------------------------

    def settle(self, replies, error):
        """Every reply is in: complete. True to be asked again (see ``kernel.client.reader``)."""
        return self._complete(replies, error)

    def fail(self, error):
        self._set(exception=error)

    def ask(self):
        raise NotImplementedError

    def _complete(self, replies, error):
        raise NotImplementedError

    def _set(self, value=None, exception=None):
        """Complete, unless it already is (cancelled meanwhile, say)."""
        try:
            if exception is not None:
                self.set_exception(exception)
            else:
                self.set_result(value)
        except concurrent.futures.InvalidStateError:
            pass

    # -- the Future API arms it -------------------------------------------------------

    def done(self):
        self._arm()
        return super().done()

    def running(self):
        self._arm()
        return super().running()

    def add_done_callback(self, fn):
        self._arm()
        super().add_done_callback(fn)

    def _wait(self, timeout):
        """Block until done (TimeoutError after ``timeout`` seconds, CancelledError if cancelled)."""
        self._arm()
        Future.exception(self, timeout)

    def result(self, timeout=None):
        self._wait(timeout)
        return super().result()

    def exception(self, timeout=None):
        self._wait(timeout)
        return super().exception()

    def __await__(self):
        """``await future`` in a running event loop: its result, without blocking the loop."""
        return asyncio.wrap_future(self).__await__()


class TaskFuture(RequestFuture):
    """The future of one task (``tc.submit``, ``tc.future``): armed at once.

    Its result is what ``tc.get_task_result(taskid, block=True)`` returns: a
    MapTask's value (its exception raised, the engine's traceback as its
    cause), a StringTask's TaskResult. If the connection drops, it asks again
    once the controller is back (the task survives a restart in its store).
    A task the controller refused fails it with that refusal, at once.
    ``cancel()`` aborts the task (``tc.abort``).
    """

    resumable = True

    def __init__(self, client, taskid, finish):
        super().__init__(client._connection)
        self.taskid = taskid
        self._client = client
        self._finish = finish  # (meta, buffers) -> the outcome, may raise the task's exception
        self._cancelling = False
        self._stashed = None  # an outcome that came while cancel() was asking for the abort
        self.ask()
        self._arm()

    def ask(self):
        header = messages.GetResults.header(taskids=[self.taskid], block=True)
        self.rids = (self._connection.request(header),)

    def _complete(self, replies, error):
        with self._arming:
            if self._cancelling:
                self._stashed = (replies, error)
                return False
        if isinstance(error, (ResultAlreadyRetrieved, ConnectionLost)):
            return True  # its request went down with a connection: ask again
        if error is not None:
            self._set(exception=error)
            return False
        try:
            value = self._finish(replies[0])
        except Exception as e:
            self._set(exception=with_remote_cause(e))
        else:
            self._set(value)
        return False

    def cancel(self):
        """Abort the task unless it has finished (``tc.abort``); whether it was cancelled.

        A task no engine has started never runs; one running goes on until
        its engine is done with it, but its result is dropped. What the abort
        raises (the task's refusal, say) is raised here, and the outcome that
        came meanwhile still completes the future.
        """
        with self._arming:
            if Future.done(self):
                return False
            self._cancelling = True
        aborted = False
        try:
            self._client.abort(self.taskid)
            aborted = True
        except IndexError:  # finished meanwhile (or aborted by someone else)
            pass
        finally:
            with self._arming:
                self._cancelling = False
                stashed, self._stashed = self._stashed, None
            if not aborted and stashed is not None and self._complete(*stashed):
                self.ask()
                self._connection.watch(self)
        if aborted:
            return super().cancel()  # its TaskAborted outcome, if it came, is dropped
        return False

    def __repr__(self):
        state = "cancelled" if Future.cancelled(self) else "finished" if Future.done(self) else "pending"
        return f"<TaskFuture task {self.taskid} ({state})>"
