"""TaskClient: farm tasks out with dynamic load balancing.

The client has no notion of engines: it submits tasks and asks for their
results by id. ``map`` submits many tasks in a few messages and fetches their
results in batches, so a tiny task costs microseconds of client time; so does
``barrier``, which leaves the results on the client (``resultcache``) for the
``get_task_result`` calls that usually follow it.
"""

import concurrent.futures

from kernel import config, errors, paths, settings
from kernel.client import checks, interrupts, maps
from kernel.client.connection import Connection, furl_or_default
from kernel.client.executor import TaskExecutor
from kernel.client.futures import TaskFuture
from kernel.client.parallel import TaskParallelFunction
from kernel.client.pipeline import Pipeline
from kernel.client.progress import progress_bar
from kernel.client.remote import rebuild, traceback_text
from kernel.client.resultcache import ENTRY_BYTES, ResultCache
from kernel.client.tables import TaskQueueStatus
from kernel.client.task import BaseTask, MapTask, StringTask, TaskResult
from kernel.wire import messages, serialize

SUBMIT_BATCH = 1000  # results per fetch after a barrier (a map sends and fetches as maps.MapStream says)
PROGRESS_STEPS = 200  # at most this many barrier requests advance a progress bar
PROGRESS_POLL = 0.25  # seconds between redraws while nothing finishes

__all__ = ["TaskClient", "TaskMapper", "TaskParallelFunction", "TaskQueueStatus", "StringTask", "MapTask"]


def _failure(meta, buffers):
    """The exception a failed task ended with: the remote one with its own type,
    or one of kernel.errors when the cluster failed it (EngineDied, TaskAborted, ...)."""
    error = meta.get("error") or {}
    entry = {"id": meta.get("engineid"), "method": "run_task", **error}
    if buffers:
        exc = rebuild(entry, buffers)
    else:
        etype = errors.by_name(error.get("etype"), errors.TaskError)
        exc = etype(error.get("message") or "the task failed")
        exc.engine_info = {"engineid": meta.get("engineid"), "method": "run_task"}
        exc.traceback_text = traceback_text(error)
    try:
        exc.taskid = meta.get("taskid")
    except AttributeError:
        pass
    return exc


def _outcome(meta, buffers):
    """A StringTask's TaskResult, or a MapTask's value (raising its exception)."""
    failure = _failure(meta, buffers) if meta["status"] == "failed" else None
    if meta.get("kind") == "map":
        if failure is not None:
            raise failure
        return serialize.loads(buffers)
    results = serialize.loads(buffers) if failure is None and buffers else {}
    return TaskResult(meta["taskid"], results, failure, meta.get("engineid"),
                      submitted=meta.get("submitted"), completed=meta.get("completed"),
                      start=meta.get("started"), stop=meta.get("finished"))


def _cache_limit(value):
    """The ``result_cache`` argument in bytes (None: the ``client.result_cache`` setting)."""
    if value is None:
        return config.load(paths.ipython_dir(), "client").result_cache
    try:
        return settings.parse_size(value)
    except (ValueError, TypeError):
        raise ValueError(f"result_cache must be {settings.SIZE.rule}, not {value!r}") from None


def _reply_outcome(reply):
    """A ``get_results`` reply for one task, as ``get_task_result`` gives it."""
    header, buffers = reply
    [(meta, group)] = TaskClient._unpack_results(header["value"], buffers)
    return _outcome(meta, group)


class TaskClient:
    """The load-balanced interface of a controller.

    ``TaskClient()`` reads ``ipcontroller-tc.furl`` from the security
    directory; a FURL or the path of a FURL file may be given instead.
    ``result_cache``: how many bytes of finished results ``barrier`` leaves
    on the client for ``get_task_result`` (``"500MB"`` or a number; 0: none);
    None takes the ``client.result_cache`` setting (``docs/settings.md``).
    """

    def __init__(self, furl_or_file="", connect_timeout=10.0, result_cache=None):
        furl = furl_or_default(furl_or_file, "tc")
        self._open(Connection(furl, "tc", connect_timeout), furl, result_cache)

    @classmethod
    def _over(cls, connection, result_cache=None):
        """A client on an already open connection (anything with ``request``, ``wait``, ``call``…)."""
        client = cls.__new__(cls)
        client._open(connection, getattr(connection, "furl", None), result_cache)
        return client

    def _open(self, connection, furl, result_cache):
        self._cache = ResultCache(_cache_limit(result_cache))
        self._connection = connection
        self._pipeline = Pipeline(connection)
        self._furl_or_file = furl
        self._task_controller = None

    @property
    def task_controller(self):
        """The same interface with methods that return Deferreds (0.10's name for it).

        An ``AsyncTaskClient`` with a connection of its own, opened at its
        first call; its Deferreds fire while the Twisted reactor runs.
        """
        if self._task_controller is None:
            from kernel.client.asyncclient import AsyncTaskClient

            self._task_controller = AsyncTaskClient(self._furl_or_file)
        return self._task_controller

    def _call(self, header, buffers=()):
        """One request, answered after every task ``run()`` sent is stored (or refused).

        The request goes out before those answers are awaited: the controller
        takes a connection's requests in order, so it still comes after them,
        and a ``run`` then ``get_task_result`` costs one round trip, not two.
        """
        return self._answer(self._send(header, buffers))

    def _send(self, header, buffers=()):
        """``_call``'s first half: send the request; return its id, for ``_answer``."""
        self._pipeline.send_kept()
        rid = self._connection.request(header, buffers)
        try:
            self._pipeline.settle()
        except BaseException:
            self._connection.forget([rid])
            raise
        return rid

    def _answer(self, rid, timeout=None):
        """``_call``'s second half: the answer's value and buffers (ControllerTimeout after ``timeout`` s)."""
        reply, out = self._connection.wait(rid, timeout)
        return reply["value"], out

    def _forget(self, rids):
        """Drop the answers to these requests, unread."""
        self._connection.forget(rids)

    # -- submitting -------------------------------------------------------------------

    @staticmethod
    def _run_request(tasks, shared=None):
        """The ``run`` header and buffers for ``tasks``, each with its recovery chain; the objects of
        ``shared`` (a ``serialize.Shared``: a map's function) go as their ready pickle."""
        wire, counts, buffers = [], [], []
        for task in tasks:
            if not isinstance(task, BaseTask):
                raise TypeError(f"run takes a StringTask or MapTask, not {type(task).__name__}")
            chain = task.chain()
            wire.append([t.spec() for t in chain])
            for t in chain:
                payload = _pickled(t, shared)
                counts.append(len(payload))
                buffers.extend(payload)
        return messages.Run.header(tasks=wire, counts=counts), buffers

    def _submit(self, tasks, wait=False):
        """Send tasks; their ids, or with ``wait`` their ``(meta, buffers)`` once finished."""
        header, buffers = self._run_request(tasks)
        if wait:
            header["wait"] = True  # answered once they finish: one round trip in all
        value, out = self._call(header, buffers)
        return self._unpack_results(value, out) if wait else value

    def run(self, task, block=False):
        """Submit ``task``; return its id (an int), or with ``block=True`` its result."""
        if block:
            [(meta, buffers)] = self._submit([task], wait=True)
            task.taskid = meta["taskid"]
            return _outcome(meta, buffers)
        task.taskid = self._pipeline.submit(*self._run_request([task]))
        return task.taskid

    # -- futures -------------------------------------------------------------------------

    def submit(self, fn, /, *args, **kwargs):
        """Run ``fn(*args, **kwargs)`` as a MapTask; a TaskFuture of its value (or exception).

        The future is a ``concurrent.futures.Future`` and awaitable; see ``future``.
        """
        return self._submit_future(MapTask(fn, args, kwargs))

    def _submit_future(self, task):
        task.taskid = self._pipeline.submit(*self._run_request([task]), report=False)
        return self.future(task.taskid)

    def future(self, taskid):
        """A TaskFuture of any task: one ``run`` or ``submit`` gave, another client's, one
        submitted before the controller restarted. Its result is what
        ``get_task_result(taskid, block=True)`` gives; see ``kernel.client.futures``."""
        return TaskFuture(self, checks.taskid(taskid), _reply_outcome)

    def as_completed(self, futures, timeout=None):
        """Yield the futures (task ids are made futures) as their tasks finish; TimeoutError
        if they have not all finished ``timeout`` seconds from now."""
        if checks.is_int(futures):
            futures = [futures]
        return concurrent.futures.as_completed(
            [f if isinstance(f, concurrent.futures.Future) else self.future(f) for f in futures], timeout)

    def executor(self, **task_options):
        """A ``concurrent.futures.Executor`` whose calls are MapTasks with ``task_options``
        (``retries``, ``depend``, ...), load balanced over every engine (``kernel.client.executor``)."""
        return TaskExecutor(self, **task_options)

    def resubmit(self, taskid):
        """Run a finished task again (same definition); return the new task id."""
        value, _ = self._call(messages.Resubmit.header(taskid=checks.taskid(taskid)))
        return value

    # -- results ---------------------------------------------------------------------------

    def _results(self, taskids, block):
        value, buffers = self._call(messages.GetResults.header(taskids=taskids, block=block))
        return self._unpack_results(value, buffers, taskids)

    @staticmethod
    def _entries(value, buffers):
        """``(meta, buffers)`` of each entry of a ``get_results`` answer; meta is None while
        the task runs, and says ``cleared`` (with no buffers) once its result is gone."""
        at = 0
        for meta in value:
            n = 0 if meta is None else meta.pop("n", 0)
            yield meta, buffers[at:at + n]
            at += n

    @staticmethod
    def _unpack_results(value, buffers, taskids=None):
        out = []
        for taskid, (meta, group) in zip(taskids or [m["taskid"] for m in value],
                                         TaskClient._entries(value, buffers)):
            if meta is not None and meta.get("cleared"):
                raise IndexError(f"the result of task {taskid} was cleared")
            out.append(None if meta is None else (meta, group))
        return out

    def get_task_result(self, taskid, block=False):
        """The task's result: a TaskResult for a StringTask; for a MapTask the
        function's value, or its exception raised. None while the task is
        unfinished and ``block`` is False. IndexError for an unknown or cleared id.

        After a ``barrier``, the result is usually on the client already: it is
        handed out once from there, without a round trip (see ``barrier``)."""
        taskid = checks.taskid(taskid)
        found = self._cached(taskid)
        if found is None:
            [found] = self._results([taskid], bool(block))
        return None if found is None else _outcome(*found)

    def _generation(self):
        return getattr(self._connection, "generation", 0)

    def _cached(self, taskid):
        """The result a barrier left here, taken out; None if there is none."""
        if taskid not in self._cache:
            return None
        self._pipeline.settle()  # as any call does: a refused submission is reported now
        return self._cache.take(taskid, self._generation())

    def _fill(self, taskids):
        """Fetch the results of finished ``taskids`` into the cache, a batch a round trip, while they fit.

        The controller ends each answer once its results reach the room left
        (``max_bytes``), so a fill never holds much more than the cache's
        limit, nor evicts a result it fetched itself. A batch with an id the
        controller never gave out is skipped: ``get_task_result`` reports
        that id, and fetches the others of that batch itself.
        """
        cache = self._cache
        wanted = [t for t in dict.fromkeys(taskids) if t not in cache]
        room, at = cache.limit, 0
        while at < len(wanted) and room >= ENTRY_BYTES:
            batch = wanted[at:at + min(SUBMIT_BATCH, room // ENTRY_BYTES)]
            at += len(batch)
            mark = cache.mark()
            header = messages.GetResults.header(taskids=batch, block=False,
                                                max_bytes=max(1, room - len(batch) * ENTRY_BYTES))
            try:
                value, buffers = self._call(header)
            except errors.NoSuchTask:
                continue
            except errors.ConnectionLost:
                return  # the results stay with the controller; the next call reconnects
            generation = self._generation()
            for taskid, (meta, group) in zip(batch, self._entries(value, buffers)):
                cost = cache.cost(group)
                if meta is not None and not meta.get("cleared") and cost <= room and \
                        cache.add(mark, generation, taskid, meta, group):
                    room -= cost
            if len(value) < len(batch):
                return  # the controller stopped at max_bytes: the room is spent

    def barrier(self, taskids, progress=None):
        """Wait until every task (an id or a list of ids) has finished.

        Failed tasks do not raise here, and ids the controller does not know
        are not waited for; ``get_task_result`` tells the outcome.
        ``progress=True`` shows a progress bar; None shows one only in an
        interactive terminal or a notebook, for waits longer than about 2 s.

        Then it fetches the results, up to 1,000 a round trip, and keeps them
        on the client (at most ``result_cache`` bytes, the oldest evicted
        first), so that ``get_task_result`` of each is local. Each is handed
        out once; ``clear`` drops them here too, and so does a reconnection.
        """
        taskids = checks.taskids(taskids)
        bar = progress_bar(progress, len(taskids), "barrier")
        with interrupts.stopping_tasks(self._connection, taskids):  # Ctrl-C aborts them too
            if bar is None:
                self._call(messages.Barrier.header(taskids=taskids))
            else:
                with bar:
                    self._wait_with(taskids, bar)
        self._fill(taskids)

    def _wait_with(self, taskids, bar, offset=0):
        """Wait for ``taskids`` in up to PROGRESS_STEPS slices, advancing ``bar`` as slices finish."""
        self._pipeline.settle()
        connection = self._connection
        step = max(1, -(-len(taskids) // PROGRESS_STEPS))
        rids = {}
        for i in range(0, len(taskids), step):
            chunk = taskids[i:i + step]
            rids[connection.request(messages.Barrier.header(taskids=chunk))] = len(chunk)
        done = 0
        try:
            while rids:
                ready = [rid for rid in rids if connection.ready(rid)]
                if ready:
                    for rid in ready:
                        connection.wait(rid)
                        done += rids.pop(rid)
                else:
                    first = next(iter(rids))
                    try:
                        connection.wait(first, timeout=PROGRESS_POLL)
                    except errors.ControllerTimeout:
                        bar.update(offset + done, force=True)  # rate and ETA move on
                        continue
                    done += rids.pop(first)
                bar.update(offset + done)
        finally:
            if rids:
                connection.forget(list(rids))

    def queue_status(self, verbose=False):
        """``{'scheduled', 'pending', 'succeeded', 'failed'}``: counts, or with
        ``verbose=True`` sorted lists of task ids plus ``'waiting'``, a dict
        saying why each waiting task cannot be scheduled yet."""
        value, _ = self._call(messages.TaskQueueStatus.header(verbose=bool(verbose)))
        if verbose:
            value["waiting"] = {int(k): why for k, why in value.get("waiting", {}).items()}
        return TaskQueueStatus(value)

    def timeline(self, taskids=None):
        """When and where tasks ran: one dict a task (every known task when None),
        with ``taskid, engineid, submitted, started, finished, completed, status,
        failures`` (failed attempts, so retries show). See ``kernel.client.timeline``."""
        ids = None if taskids is None else checks.taskids(taskids)
        value, _ = self._call(messages.Timeline.header(taskids=ids))
        return value

    def plot_timeline(self, path=None, taskids=None, **options):
        """Draw the tasks' timeline (a Gantt chart, one row per engine) into ``path``
        with matplotlib; failures in red, retried tasks in orange. Returns the
        number of tasks drawn; without ``path``, a TimelineFigure (Jupyter shows it)."""
        from kernel.client.timeline import plot_timeline

        return plot_timeline(self.timeline(taskids), path, **options)

    def task_status(self, taskid):
        """One task's record: ``state`` (scheduled, pending, succeeded, failed),
        ``engineid``, ``waiting`` (why it cannot be scheduled yet, or None) and times."""
        value, _ = self._call(messages.TaskStatus.header(taskid=checks.taskid(taskid)))
        return value

    def abort(self, taskid):
        """Remove a scheduled task, or mark a running one aborted: either way its
        result is a TaskAborted failure. IndexError if it has finished, was
        already aborted or is unknown; TypeError if ``taskid`` is not an int."""
        self._call(messages.Abort.header(taskid=checks.taskid(taskid)))

    def spin(self):
        """Run the scheduler once; True if it started a task, else False.

        The scheduler also runs on every event and checks timeouts on its own,
        so this is rarely needed (and mostly says False).
        """
        value, _ = self._call(messages.Spin.header())
        return bool(value)

    def clear(self, taskids=None):
        """Forget finished results (all of them when None); return how many went.

        Later lookups of those ids raise IndexError; unfinished tasks are not
        touched. Ids the controller never gave out raise NoSuchTask (a KeyError,
        as in 0.10, and an IndexError) once the others are cleared.
        """
        ids = None if taskids is None else checks.taskids(taskids)
        with self._cache.clearing(ids):  # and the copies a barrier left here
            value, _ = self._call(messages.Clear.header(taskids=ids))
        return value

    # -- map and parallel ----------------------------------------------------------------

    def map(self, func, *sequences, chunksize=None, progress=None):
        """Load-balanced ``[func(*args) for args in zip(*sequences)]``: one task per
        item (or per ``chunksize`` items), results in order, the first failure raised.
        ``progress`` as in ``barrier``: a progress bar of finished tasks."""
        return self.mapper().map(func, *sequences, chunksize=chunksize, progress=progress)

    def mapper(self, clear_before=False, clear_after=False, retries=0, recovery_task=None,
               depend=None, block=True, *, after=None, follow=None, timeout=None, chunksize=None):
        """A TaskMapper whose tasks get these options; with ``block=False`` its
        ``map`` returns the task ids instead of the results."""
        options = dict(clear_before=clear_before, clear_after=clear_after, retries=retries,
                       recovery_task=recovery_task, depend=depend, after=after, follow=follow,
                       timeout=timeout)
        MapTask(len, **options)  # check the options now, not at the first map
        return TaskMapper(self, options, block, chunksize)

    def parallel(self, clear_before=False, clear_after=False, retries=0, recovery_task=None,
                 depend=None, block=True, **options):
        """Decorator: ``@tc.parallel()`` makes ``f(seq)`` (or ``f.map(seq)``) a load-balanced map of f."""
        return TaskParallelFunction(self.mapper(clear_before, clear_after, retries, recovery_task, depend,
                                                block, **options))

    def close(self):
        """Close the connection, once the tasks ``run()`` sent are stored (and ``task_controller``'s)."""
        self._cache.clear()
        if self._task_controller is not None:
            self._task_controller.close()
        try:
            self._pipeline.settle()
        finally:
            self._connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _pickled(task, shared):
    """``serialize.dumps`` of ``task``; SerializationError naming the task (and the global its function
    uses that cannot be pickled, if that is why)."""
    try:
        return serialize.dumps(task, shared)
    except Exception as e:
        culprit = "it cannot be pickled"
        for func in (getattr(task, "function", None), *getattr(task, "args", ())):  # a chunked map's: in args
            name = serialize.unpicklable_global(func) if hasattr(func, "__globals__") else None
            if name is not None:
                culprit = (f"{func.__name__} uses the global {name!r}, a {type(func.__globals__[name]).__name__} "
                           "that cannot be pickled")
                break
        raise errors.SerializationError(f"cannot send {task!r}: {culprit} ({type(e).__name__}: {e})") from e


def _call_chunk(func, chunk):
    return [func(*args) for args in chunk]


class TaskMapper:
    """Maps a function over sequences with one MapTask per item (or per chunk)."""

    def __init__(self, client, options, block=True, chunksize=None):
        self.client = client
        self.task_controller = client  # the 0.10 name
        self.options = options
        self.block = block
        self.chunksize = chunksize
        for name, value in options.items():
            setattr(self, name, value)

    def map(self, func, *sequences, chunksize=None, progress=None):
        if not callable(func):
            raise TypeError(f"func must be callable, not {type(func).__name__}")
        sequences = maps.map_sequences(sequences)
        chunksize = self.chunksize if chunksize is None else chunksize
        items = list(zip(*sequences))
        if chunksize is None:
            tasks = [MapTask(func, args, **self.options) for args in items]
        else:
            if not checks.is_int(chunksize) or chunksize < 1:
                raise ValueError(f"chunksize must be a positive int, not {chunksize!r}")
            tasks = [MapTask(_call_chunk, (func, items[i:i + chunksize]), **self.options)
                     for i in range(0, len(items), chunksize)]
        stream = maps.MapStream(self.client, tasks, shared=serialize.Shared(func))
        if not self.block:
            return stream.submit()
        bar = progress_bar(progress, len(tasks), "map")
        tick = None if bar is None else lambda: bar.update(force=True)  # rate and ETA move on
        results, done = [], 0
        try:
            for meta, buffers in stream.results(tick):
                value = _outcome(meta, buffers)
                if chunksize is None:
                    results.append(value)
                else:
                    results.extend(value)
                done += 1
                if bar is not None:
                    bar.update(done)
        except KeyboardInterrupt:  # Ctrl-C: the tasks submitted and not collected stop too
            interrupts.stop_tasks(self.client._connection, stream.taskids())
            raise
        finally:
            if bar is not None:
                bar.close()
        return results
