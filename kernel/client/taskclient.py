"""TaskClient: farm tasks out with dynamic load balancing.

The client has no notion of engines: it submits tasks and asks for their
results by id. ``map`` submits many tasks in a few messages and fetches their
results in batches, so a tiny task costs microseconds of client time.
"""

from kernel import errors, paths
from kernel.client.connection import Connection
from kernel.client.multiengine import default_furl_file
from kernel.client.remote import rebuild
from kernel.client.task import BaseTask, MapTask, StringTask, TaskResult
from kernel.wire import serialize

SUBMIT_BATCH = 1000  # tasks per run message in map


def _check_taskid(taskid):
    if not isinstance(taskid, int) or isinstance(taskid, bool):
        raise TypeError(f"a task id must be an int, not {type(taskid).__name__}")
    return taskid


def _failure(meta, buffers):
    error = meta.get("error") or {}
    if buffers:
        exc = rebuild({"id": meta.get("engineid"), "method": "run_task", **error}, buffers)
    else:
        etype = getattr(errors, error.get("etype") or "", None) or errors.TaskError
        exc = etype(error.get("message") or "the task failed")
        exc.traceback_text = error.get("traceback") or ""
    exc.taskid = meta.get("taskid")
    return exc


def _outcome(meta, buffers):
    """A StringTask's TaskResult, or a MapTask's value (raising its exception)."""
    failure = _failure(meta, buffers) if meta["status"] == "failed" else None
    times = {k: meta.get(k) for k in ("submitted", "completed", "started", "finished")}
    if meta.get("kind") == "map":
        if failure is not None:
            raise failure
        return serialize.loads(buffers)
    results = serialize.loads(buffers) if failure is None and buffers else {}
    return TaskResult(meta["taskid"], results, failure, meta.get("engineid"), **times)


class TaskClient:
    def __init__(self, furl_or_file="", connect_timeout=10.0):
        furl = furl_or_file or default_furl_file(paths.TC_FURL)
        self._connection = Connection(furl, "tc", connect_timeout)

    def _call(self, header, buffers=()):
        reply, out = self._connection.call(header, buffers)
        return reply["value"], out

    # -- submitting -------------------------------------------------------------------

    @staticmethod
    def _encode(task):
        if not isinstance(task, BaseTask):
            raise TypeError(f"run takes a StringTask or MapTask, not {type(task).__name__}")
        chain = task.chain()
        payloads = [serialize.dumps(t) for t in chain]
        return [t.spec() for t in chain], payloads

    def _submit(self, tasks):
        wire, counts, buffers = [], [], []
        for task in tasks:
            specs, payloads = self._encode(task)
            wire.append(specs)
            for payload in payloads:
                counts.append(len(payload))
                buffers.extend(payload)
        value, _ = self._call({"op": "run", "tasks": wire, "counts": counts}, buffers)
        return value

    def run(self, task, block=False):
        """Submit ``task``; return its id (or, with block=True, its result)."""
        [taskid] = self._submit([task])
        return self.get_task_result(taskid, block=True) if block else taskid

    def resubmit(self, taskid):
        """Run a finished task again (same definition); return the new id."""
        value, _ = self._call({"op": "resubmit", "taskid": _check_taskid(taskid)})
        return value

    # -- results ---------------------------------------------------------------------------

    def _results(self, taskids, block):
        value, buffers = self._call({"op": "get_results", "taskids": taskids, "block": block})
        out, at = [], 0
        for taskid, meta in zip(taskids, value):
            if meta is None:
                out.append(None)
                continue
            if meta.get("cleared"):
                raise IndexError(f"the result of task {taskid} was cleared")
            n = meta.pop("n")
            out.append((meta, buffers[at:at + n]))
            at += n
        return out

    def get_task_result(self, taskid, block=False):
        """The task's result, or None while it is unfinished and block is False."""
        [found] = self._results([_check_taskid(taskid)], block)
        return None if found is None else _outcome(*found)

    def barrier(self, taskids):
        """Wait until every task has finished; never raises for a failed task."""
        ids = [taskids] if isinstance(taskids, int) else list(taskids)
        for taskid in ids:
            _check_taskid(taskid)
        self._call({"op": "barrier", "taskids": ids})

    def queue_status(self, verbose=False):
        value, _ = self._call({"op": "queue_status", "verbose": bool(verbose)})
        return value

    def abort(self, taskid):
        """Remove a scheduled task, or mark a running one aborted (TaskAborted)."""
        self._call({"op": "abort", "taskid": _check_taskid(taskid)})

    def spin(self):
        """Run the scheduler once (timeouts are also checked on their own)."""
        self._call({"op": "spin"})

    def clear(self, taskids=None):
        """Forget finished results (all when None); later lookups raise IndexError."""
        if taskids is not None:
            taskids = [taskids] if isinstance(taskids, int) else [_check_taskid(t) for t in taskids]
        self._call({"op": "clear", "taskids": taskids})

    # -- map and parallel ----------------------------------------------------------------

    def map(self, func, *sequences, chunksize=None, **options):
        """Load-balanced map: a list of results in order; the first failure is raised."""
        return self.mapper(**options).map(func, *sequences, chunksize=chunksize)

    def mapper(self, clear_before=False, clear_after=False, retries=0, recovery_task=None,
               depend=None, block=True):
        return TaskMapper(self, dict(clear_before=clear_before, clear_after=clear_after, retries=retries,
                                     recovery_task=recovery_task, depend=depend), block)

    def parallel(self, clear_before=False, clear_after=False, retries=0, recovery_task=None,
                 depend=None, block=True):
        """Decorator: ``@tc.parallel()`` makes ``f(seq)`` a load-balanced map of f."""
        from kernel.client.multiengine import ParallelFunction

        mapper = self.mapper(clear_before, clear_after, retries, recovery_task, depend, block)
        return lambda f: ParallelFunction(f, mapper)

    def close(self):
        self._connection.close()


def _call_chunk(func, chunk):
    return [func(*args) for args in chunk]


class TaskMapper:
    """Maps a function over sequences with one MapTask per item (or per chunk)."""

    def __init__(self, client, options, block=True):
        self.client = client
        self.options = options
        self.block = block

    def map(self, func, *sequences, chunksize=None):
        if not callable(func):
            raise TypeError("func must be callable")
        if not sequences:
            raise TypeError("map() needs at least one sequence")
        if len({len(s) for s in sequences}) > 1:
            raise ValueError("all sequences must have equal length")
        items = list(zip(*sequences))
        if chunksize is None:
            tasks = [MapTask(func, args, **self.options) for args in items]
        else:
            if not isinstance(chunksize, int) or chunksize < 1:
                raise ValueError(f"chunksize must be a positive int, not {chunksize!r}")
            tasks = [MapTask(_call_chunk, (func, items[i:i + chunksize]), **self.options)
                     for i in range(0, len(items), chunksize)]
        taskids = []
        for i in range(0, len(tasks), SUBMIT_BATCH):
            taskids.extend(self.client._submit(tasks[i:i + SUBMIT_BATCH]))
        if not self.block:
            return taskids
        results = []
        for i in range(0, len(taskids), SUBMIT_BATCH):
            for meta, buffers in self.client._results(taskids[i:i + SUBMIT_BATCH], True):
                value = _outcome(meta, buffers)
                if chunksize is None:
                    results.append(value)
                else:
                    results.extend(value)
        return results
