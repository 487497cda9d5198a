"""Finished tasks' results kept on the client, so that ``get_task_result`` after a barrier is local.

0.10's result loop, ``ids = [tc.run(t) ...]; tc.barrier(ids); [tc.get_task_result(i) for i in ids]``,
would otherwise cost a round trip per result after the barrier. The barrier
fetches the results in a few batches instead and leaves them here.

The cache is bounded in bytes (the ``client.result_cache`` setting): a
client that never reads its results holds at most that much. A result is
counted as its buffers plus ``ENTRY_BYTES`` for its metadata; adding one
past the bound evicts the oldest first, and a result bigger than the bound
is not kept (``get_task_result`` fetches it as before).

A result is handed out once: ``take`` removes it, so memory goes as the loop
reads, and two reads of a result never share the arrays it holds (they wrap
the received buffers). Reading it again asks the controller.

A result may be kept only while the controller still has it to give, so:

- ``clearing(taskids)`` wraps the ``clear`` request: it drops those results
  before the request and again after the answer, and a fill that began
  before the answer (``mark``) is refused, even if its answer came first;
- a new connection (the controller restarted, perhaps with a new store)
  empties the cache, and what an older one fetched is not kept.
"""

import threading
from collections import OrderedDict
from contextlib import contextmanager

ENTRY_BYTES = 800  # what one cached result's metadata dict and its entry take, measured on CPython 3.11


class ResultCache:
    """``taskid -> (meta, buffers)``, oldest first, at most ``limit`` bytes (0: nothing is kept)."""

    def __init__(self, limit):
        self.limit = limit
        self.size = 0  # bytes held, as counted by ``cost``
        self._entries = OrderedDict()  # taskid -> (meta, buffers, cost)
        self._lock = threading.Lock()  # calls may come from many threads (executors, futures)
        self._clears = 0  # clears begun and ended: a fill that saw another count is refused
        self._generation = 0  # the newest connection seen (they are numbered upwards)

    def __len__(self):
        return len(self._entries)

    def __contains__(self, taskid):
        return taskid in self._entries

    @staticmethod
    def cost(buffers):
        """The bytes a result counts for."""
        return ENTRY_BYTES + sum(memoryview(b).nbytes for b in buffers)

    def mark(self):
        """Taken before a fill's request is sent: ``add`` refuses its results if a clear came since."""
        with self._lock:
            return self._clears

    def add(self, mark, generation, taskid, meta, buffers):
        """Keep a result fetched under ``mark`` over the connection ``generation`` (which changes
        on reconnecting); whether it was kept. The oldest go to make room."""
        cost = self.cost(buffers)
        with self._lock:
            if not self._current(generation) or mark != self._clears or cost > self.limit:
                return False
            self._drop(taskid)
            self._entries[taskid] = (meta, buffers, cost)
            self.size += cost
            while self.size > self.limit:
                self._drop(next(iter(self._entries)))
            return True

    def take(self, taskid, generation):
        """The result ``(meta, buffers)`` of ``taskid``, removed; None if it is not here."""
        with self._lock:
            entry = self._entries.pop(taskid, None) if self._current(generation) else None
            if entry is None:
                return None
            self.size -= entry[2]
            return entry[0], entry[1]

    @contextmanager
    def clearing(self, taskids=None):
        """Around a ``clear`` of ``taskids`` (all when None): those results go, before and after."""
        self._forget(taskids)
        try:
            yield
        finally:
            self._forget(taskids)

    def clear(self):
        """Drop every result (the client closes)."""
        self._forget(None)

    def _forget(self, taskids):
        with self._lock:
            self._clears += 1
            for taskid in list(self._entries) if taskids is None else taskids:
                self._drop(taskid)

    def _current(self, generation):
        """Whether ``generation`` is the newest connection seen; a newer one empties the cache."""
        if generation > self._generation:
            self._entries.clear()
            self.size = 0
            self._generation = generation
        return generation == self._generation

    def _drop(self, taskid):
        entry = self._entries.pop(taskid, None)
        if entry is not None:
            self.size -= entry[2]
