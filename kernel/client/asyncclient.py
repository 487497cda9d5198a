"""Clients whose methods return Deferreds, for programs that run the Twisted reactor (0.10's asyncclient).

``get_multiengine_client()`` and ``get_task_client()`` return a Deferred that
fires with a connected client, and every method of that client returns a
Deferred too::

    d = asyncclient.get_multiengine_client()
    d.addCallback(lambda mec: mec.push(dict(a=5), targets=0, block=True))
    reactor.run()

Each client drives a blocking client (``kernel.client``) from a thread of its
own: its calls run one at a time, in the order they were made, and their
outcomes come back on the reactor's thread. A call that waits (``block=True``,
``barrier``) holds back the calls made after it, as an engine's queue would.
As in 0.10, a multiengine call with ``block=False`` fires with an id, and
``get_pending_deferred(id, block)`` with the result itself.
"""

import functools
import itertools
import queue
import threading

from twisted.internet import defer
from twisted.python import failure

from kernel.client.multiengine import MultiEngineClient, MultiEngineMapper
from kernel.client.parallel import ParallelFunction, TaskParallelFunction
from kernel.client.remote import CompositeError
from kernel.client.results import PendingResult
from kernel.client.task import MapTask, StringTask
from kernel.client.taskclient import TaskClient
from kernel.errors import AbortedPendingDeferredError, CapabilityRefused, InvalidDeferredID, ResultNotCompleted

__all__ = ["get_multiengine_client", "get_task_client", "get_client", "AsyncMultiEngineClient",
           "AsyncTaskClient", "AsyncTaskMapper", "collect_exceptions", "MapTask", "StringTask",
           "CompositeError"]


def get_multiengine_client(furl_or_file="", reactor=None):
    """A Deferred firing with a connected AsyncMultiEngineClient (the default FURL file when empty)."""
    return AsyncMultiEngineClient(furl_or_file, reactor).connected()


def get_task_client(furl_or_file="", reactor=None):
    """A Deferred firing with a connected AsyncTaskClient (the default FURL file when empty)."""
    return AsyncTaskClient(furl_or_file, reactor).connected()


def get_client(furl_or_file, reactor=None):
    """A Deferred firing with the client of whichever interface the FURL is for."""

    def task_client(reason):
        reason.trap(CapabilityRefused)  # a task FURL, or one the controller does not know
        return get_task_client(furl_or_file, reactor)

    return get_multiengine_client(furl_or_file, reactor).addErrback(task_client)


def collect_exceptions(rlist, method):
    """``rlist`` itself if no item is a Failure; otherwise a CompositeError of the Failures (0.10's)."""
    elist = []
    for item in rlist:
        if isinstance(item, failure.Failure):
            item.cleanFailure()
            text = getattr(item.value, "traceback_text", None) or item.getTraceback()
            elist.append((item.type, item.value, text))
    if elist:
        raise CompositeError(f"one or more exceptions from call to method: {method}", elist)
    return rlist


_STOP = object()  # ends the call thread
_NOT_READY = object()  # what get_result(block=False) gives for a result not in yet


class _CallThread:
    """Runs calls one at a time, in order, on a daemon thread; each one's outcome fires a Deferred on the reactor."""

    def __init__(self, reactor, name):
        self._reactor = reactor
        self._calls = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self.thread.start()

    def call(self, f, *args, **kwargs):
        d = defer.Deferred()
        self._calls.put((d, f, args, kwargs))
        return d

    def stop(self):
        """End the thread once the calls made so far have run."""
        self._calls.put(_STOP)

    def _serve(self):
        while (job := self._calls.get()) is not _STOP:
            d, f, args, kwargs = job
            try:
                outcome = f(*args, **kwargs)
            except Exception:
                self._reactor.callFromThread(d.errback, failure.Failure())
            else:
                self._reactor.callFromThread(d.callback, outcome)


def _deferred(blocking_class, name):
    """A method running the blocking client's method ``name`` on the call thread."""

    @functools.wraps(getattr(blocking_class, name))
    def method(self, *args, **kwargs):
        return self._on_thread(lambda client: getattr(client, name)(*args, **kwargs))

    method.__qualname__ = f"Async{blocking_class.__name__}.{name}"
    return method


class _AsyncClient:
    """The call thread and the blocking client it drives, connected by the thread's first call."""

    blocking_class = None

    def __init__(self, furl_or_file="", reactor=None):
        self._furl_or_file = furl_or_file
        self._reactor = reactor
        self._thread = None
        self._blocking = None

    def _on_thread(self, f):
        """Run ``f(blocking client)`` on the call thread; a Deferred of its outcome."""
        if self._thread is None:
            if self._reactor is None:
                from twisted.internet import reactor

                self._reactor = reactor
            self._thread = _CallThread(self._reactor, f"kernel {type(self).__name__}")
        return self._thread.call(self._with_client, f)

    def _with_client(self, f):
        if self._blocking is None:
            self._blocking = self.blocking_class(self._furl_or_file)
        return f(self._blocking)

    def connected(self):
        """A Deferred firing with this client once it is connected (its thread ends if it cannot be)."""

        def failed(reason):
            self.close()
            return reason

        return self._on_thread(lambda client: self).addErrback(failed)

    def adapt_to_blocking_client(self):
        """The blocking client this one drives (connected: call it once ``connected()`` has fired)."""
        return self._blocking

    def close(self):
        """Close the connection and end the thread, once the calls made so far have run."""
        if self._thread is None:
            return defer.succeed(None)
        d = self._thread.call(lambda: self._blocking and self._blocking.close())
        self._thread.stop()
        return d

    def __repr__(self):
        return f"<{type(self).__name__}: its methods return Deferreds>"


class AsyncMultiEngineClient(_AsyncClient):
    """The multiengine interface; each method returns a Deferred (0.10's FCFullSynchronousMultiEngineClient).

    The methods take the arguments of MultiEngineClient's, with targets
    'all' and block True by default; ``block=False`` fires with an id for
    ``get_pending_deferred``.
    """

    blocking_class = MultiEngineClient

    def __init__(self, furl_or_file="", reactor=None):
        super().__init__(furl_or_file, reactor)
        self._pending = {}  # id -> PendingResult
        self._waiting = {}  # id -> the Deferred get_pending_deferred(id, block=True) returned
        self._ids = itertools.count()

    def _on_thread(self, f):
        return super()._on_thread(f).addCallback(self._keep)

    def _keep(self, value):
        if not isinstance(value, PendingResult):
            return value
        deferred_id = next(self._ids)
        self._pending[deferred_id] = value
        return deferred_id

    def get_pending_deferred(self, deferredID, block=True):
        """A Deferred of the result of the call that gave ``deferredID``.

        With ``block=False`` it fails with ResultNotCompleted while the result
        has not arrived. Once fetched (or failed) the id is spent: asking
        again fails with InvalidDeferredID, as does asking while another
        ``get_pending_deferred`` waits for it.
        """
        pending = self._pending.get(deferredID)
        if pending is None or deferredID in self._waiting:
            return defer.fail(InvalidDeferredID(f"invalid deferred id: {deferredID!r}"))
        result = defer.Deferred()
        if block:
            self._waiting[deferredID] = result
        fetched = super()._on_thread(lambda client: pending.get_result(_NOT_READY, block))
        fetched.addBoth(self._settle, deferredID, result)
        return result

    def _settle(self, outcome, deferred_id, result):
        if self._waiting.get(deferred_id) is result:
            del self._waiting[deferred_id]
        if result.called:  # dropped by clear_pending_deferreds
            return None
        if outcome is _NOT_READY:
            result.errback(ResultNotCompleted(f"result not completed: {deferred_id!r}"))
            return None
        self._pending.pop(deferred_id, None)
        result.callback(outcome)
        return None

    def clear_pending_deferreds(self):
        """Drop every result not yet fetched; Deferreds still waiting for one fail with AbortedPendingDeferredError."""
        self._pending.clear()
        waiting, self._waiting = self._waiting, {}
        for deferred_id, result in waiting.items():
            result.errback(AbortedPendingDeferredError(f"pending deferred has been deleted: {deferred_id!r}"))
        return self._on_thread(lambda client: client.flush())

    execute = _deferred(MultiEngineClient, "execute")
    run = _deferred(MultiEngineClient, "run")
    push = _deferred(MultiEngineClient, "push")
    pull = _deferred(MultiEngineClient, "pull")
    push_function = _deferred(MultiEngineClient, "push_function")
    pull_function = _deferred(MultiEngineClient, "pull_function")
    push_serialized = _deferred(MultiEngineClient, "push_serialized")
    pull_serialized = _deferred(MultiEngineClient, "pull_serialized")
    zip_pull = _deferred(MultiEngineClient, "zip_pull")
    get_result = _deferred(MultiEngineClient, "get_result")
    reset = _deferred(MultiEngineClient, "reset")
    keys = _deferred(MultiEngineClient, "keys")
    kill = _deferred(MultiEngineClient, "kill")
    clear_queue = _deferred(MultiEngineClient, "clear_queue")
    queue_status = _deferred(MultiEngineClient, "queue_status")
    set_properties = _deferred(MultiEngineClient, "set_properties")
    get_properties = _deferred(MultiEngineClient, "get_properties")
    has_properties = _deferred(MultiEngineClient, "has_properties")
    del_properties = _deferred(MultiEngineClient, "del_properties")
    clear_properties = _deferred(MultiEngineClient, "clear_properties")
    get_ids = _deferred(MultiEngineClient, "get_ids")
    scatter = _deferred(MultiEngineClient, "scatter")
    gather = _deferred(MultiEngineClient, "gather")
    raw_map = _deferred(MultiEngineClient, "raw_map")

    def map(self, func, *sequences):
        """A Deferred of ``[func(*args) for args in zip(*sequences)]``, computed on every engine in blocks."""
        return self.mapper().map(func, *sequences)

    def mapper(self, dist="b", targets="all", block=True):
        """A MultiEngineMapper whose ``map`` returns a Deferred."""
        return MultiEngineMapper(self, dist, targets, block)

    def parallel(self, dist="b", targets="all", block=True):
        """Decorator: ``f(seq)`` becomes a Deferred of the parallel map of f over seq."""
        return ParallelFunction(self.mapper(dist, targets, block))


class AsyncTaskClient(_AsyncClient):
    """The task interface; each method returns a Deferred (0.10's FCTaskClient)."""

    blocking_class = TaskClient

    run = _deferred(TaskClient, "run")
    get_task_result = _deferred(TaskClient, "get_task_result")
    abort = _deferred(TaskClient, "abort")
    barrier = _deferred(TaskClient, "barrier")
    spin = _deferred(TaskClient, "spin")
    queue_status = _deferred(TaskClient, "queue_status")
    clear = _deferred(TaskClient, "clear")

    def map(self, func, *sequences):
        """A Deferred of the load-balanced map: the results, or a CompositeError of every failure."""
        return self.mapper().map(func, *sequences)

    def mapper(self, clear_before=False, clear_after=False, retries=0, recovery_task=None,
               depend=None, block=True):
        """An AsyncTaskMapper: one MapTask an item, with these options."""
        return AsyncTaskMapper(self, clear_before=clear_before, clear_after=clear_after,
                               retries=retries, recovery_task=recovery_task, depend=depend,
                               block=block)

    def parallel(self, clear_before=False, clear_after=False, retries=0, recovery_task=None,
                 depend=None, block=True):
        """Decorator: ``f(seq)`` becomes a Deferred of the load-balanced map of f over seq."""
        return TaskParallelFunction(self.mapper(clear_before, clear_after, retries, recovery_task, depend, block))


def _result_or_failure(client, taskid):
    try:
        return client.get_task_result(taskid)
    except Exception:
        return failure.Failure()


class AsyncTaskMapper:
    """0.10's TaskMapper: ``map`` returns a Deferred of the results (with ``block``) or of the task ids."""

    def __init__(self, task_controller, clear_before=False, clear_after=False, retries=0,
                 recovery_task=None, depend=None, block=True):
        self.task_controller = task_controller
        self.clear_before = clear_before
        self.clear_after = clear_after
        self.retries = retries
        self.recovery_task = recovery_task
        self.depend = depend
        self.block = block

    def map(self, func, *sequences):
        options = dict(clear_before=self.clear_before, clear_after=self.clear_after,
                       retries=self.retries, recovery_task=self.recovery_task, depend=self.depend)

        def run(client):
            taskids = client.mapper(**options, block=False).map(func, *sequences)
            if not self.block:
                return taskids
            client.barrier(taskids)
            return collect_exceptions([_result_or_failure(client, t) for t in taskids], "map")

        return self.task_controller._on_thread(run)
