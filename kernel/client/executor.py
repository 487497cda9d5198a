"""``concurrent.futures`` Executors over the engines, for libraries that take one.

``tc.executor(**task_options)`` load balances over every engine: each call
is a MapTask (with those options: ``retries``, ``depend``, ...), so it gets
the task interface's retries and survives a controller restart.
``mec.executor(targets=...)`` runs calls on the chosen engines only, each on
whichever of them has the fewest calls of this executor in flight, through
the multiengine interface (an engine's namespace is the function's globals,
as for ``mec.map``); its futures cannot be cancelled.

Both have ``submit``, a lazy ordered ``map(fn, *iterables, timeout=None,
chunksize=1, buffersize=None)`` and ``shutdown(wait=True, *, cancel_futures=False)``,
and are context managers. They never close their client.
"""

import concurrent.futures
import functools
import itertools
import threading
import time
from collections import deque

from kernel.client import checks


def _call_chunk(fn, chunk):
    return [fn(*args) for args in chunk]


def _positive(value, name):
    if not checks.is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int, not {value!r}")
    return value


class _Executor(concurrent.futures.Executor):
    """What both executors share: the shutdown state, the futures in flight, ``map``."""

    def __init__(self):
        self._lock = threading.Lock()
        self._closed = False
        self._in_flight = set()

    def submit(self, fn, /, *args, **kwargs):
        """Run ``fn(*args, **kwargs)`` on an engine; a future of its value."""
        if not callable(fn):
            raise TypeError(f"submit takes a function, not {type(fn).__name__}")
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
        future = self._submit(fn, args, kwargs)
        with self._lock:
            self._in_flight.add(future)
        future.add_done_callback(self._landed)
        return future

    def _landed(self, future):
        with self._lock:
            self._in_flight.discard(future)

    def _submit(self, fn, args, kwargs):
        raise NotImplementedError

    def map(self, fn, *iterables, timeout=None, chunksize=1, buffersize=None):
        """``fn(*args)`` for ``args`` in ``zip(*iterables)``, computed on the engines, yielded in order.

        ``chunksize`` items go to an engine as one call. Without ``buffersize``
        every call is submitted now, as ``concurrent.futures`` does; with it,
        at most that many calls are in flight, and the iterables are read as
        the results are taken (so they may be endless). The iterator raises
        TimeoutError if a result is not in ``timeout`` seconds after this call,
        and the first exception of a call; the calls not yet done are then
        cancelled where they can be.
        """
        _positive(chunksize, "chunksize")
        if buffersize is not None:
            _positive(buffersize, "buffersize")
        deadline = None if timeout is None else time.monotonic() + timeout
        items = zip(*iterables)
        if chunksize == 1:
            calls = (functools.partial(self.submit, fn, *args) for args in items)
        else:
            chunks = iter(lambda: list(itertools.islice(items, chunksize)), [])
            calls = (functools.partial(self.submit, _call_chunk, fn, chunk) for chunk in chunks)
        futures = deque(call() for call in itertools.islice(calls, buffersize))
        return self._results(futures, calls, deadline, chunksize > 1)

    @staticmethod
    def _results(futures, calls, deadline, chunked):
        try:
            while futures:
                future = futures.popleft()
                value = future.result(None if deadline is None else max(0.0, deadline - time.monotonic()))
                more = next(calls, None)
                if more is not None:
                    futures.append(more())
                if chunked:
                    yield from value
                else:
                    yield value
        finally:
            for future in futures:
                future.cancel()

    def shutdown(self, wait=True, *, cancel_futures=False):
        """No more submissions; ``cancel_futures`` cancels the calls not started; ``wait`` waits for the rest."""
        with self._lock:
            self._closed = True
            in_flight = list(self._in_flight)
        if cancel_futures:
            for future in in_flight:
                future.cancel()
        if wait:
            concurrent.futures.wait(in_flight)


class TaskExecutor(_Executor):
    """``tc.executor()``: each call a MapTask, load balanced over every engine."""

    def __init__(self, client, **task_options):
        super().__init__()
        from kernel.client.task import MapTask

        MapTask(len, **task_options)  # check the options now, not at the first submit
        self.client = client
        self.task_options = task_options
        self._task = MapTask

    def _submit(self, fn, args, kwargs):
        return self.client._submit_future(self._task(fn, args, kwargs, **self.task_options))

    def __repr__(self):
        return f"<TaskExecutor over {self.client!r}>"


class MultiEngineExecutor(_Executor):
    """``mec.executor(targets)``: each call on the chosen engine with the fewest calls in flight."""

    def __init__(self, client, targets):
        super().__init__()
        self.client = client
        self.targets = client._target_list(targets)
        self._load = dict.fromkeys(self.targets, 0)

    def _submit(self, fn, args, kwargs):
        call = functools.partial(fn, **kwargs) if kwargs else fn
        with self._lock:
            engine = min(self._load, key=self._load.get)
            self._load[engine] += 1
        future = self.client._apply(call, args, engine, _unwrap)
        future.add_done_callback(lambda _: self._finished(engine))
        return future

    def _finished(self, engine):
        with self._lock:
            self._load[engine] -= 1

    def __repr__(self):
        return f"<MultiEngineExecutor on engines {self.targets}>"


def _unwrap(values):
    """One call's value, from the one engine's list of one."""
    return values[0][0]

