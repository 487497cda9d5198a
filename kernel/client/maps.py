"""The sequences of a map, block partitioning for scatter, gather and map, and a load-balanced map on its way.

Blocks are contiguous, the first ones one longer: ``range(10)`` over 4
engines is ``[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]``. ``MapStream`` sends a
``TaskClient.map``'s tasks and collects their results.
"""

from collections import deque

import numpy

from kernel import errors
from kernel.wire import messages


def as_sequence(seq):
    """Something ``partition`` can slice: arrays and sequences as they are, others as a list."""
    if isinstance(seq, numpy.ndarray):
        if seq.ndim == 0:
            raise TypeError("cannot partition a 0-dimensional array")
        return seq
    if isinstance(seq, (str, bytes)):
        return seq
    if hasattr(seq, "__getitem__") and hasattr(seq, "__len__") and not isinstance(seq, dict):
        return seq
    try:
        return list(seq)
    except TypeError:
        raise TypeError(f"cannot partition a {type(seq).__name__}: a sequence is needed") from None


def map_sequences(sequences):
    """The sequences of a ``map(func, *sequences)``, checked: at least one, all of equal length."""
    if not sequences:
        raise TypeError("map() needs at least one sequence")
    sequences = [as_sequence(s) for s in sequences]
    if len({len(s) for s in sequences}) > 1:
        raise ValueError("all sequences must have equal length")
    return sequences


def partition(seq, p, q):
    """The ``p``-th of ``q`` contiguous blocks of ``seq`` (a range's blocks are lists)."""
    base, remainder = divmod(len(seq), q)
    low = p * base + min(p, remainder)
    high = low + base + (1 if p < remainder else 0)
    part = seq[low:high]
    return list(part) if isinstance(part, range) else part


def join(partitions):
    """Gather: concatenate arrays, flatten lists and tuples, else keep the list."""
    if not partitions:
        return []
    if all(isinstance(part, numpy.ndarray) for part in partitions):
        return numpy.concatenate(partitions)
    if all(isinstance(part, (list, tuple)) for part in partitions):
        return [item for part in partitions for item in part]
    return list(partitions)


DISTRIBUTIONS = {"b": (partition, join)}


def distribution(dist):
    try:
        return DISTRIBUTIONS[dist]
    except (KeyError, TypeError):
        raise ValueError(f"unknown distribution {dist!r}: only 'b' (contiguous blocks) exists") from None


# -- a TaskClient's map on its way ----------------------------------------------------------

MESSAGE_FIRST = 16  # tasks in a map's first run message, so that the engines start at once
MESSAGE_MOST = 64  # each next message holds twice as many, up to this (see MapStream)
MAP_OUTSTANDING = 2000  # tasks a blocking map keeps submitted and not collected
PROGRESS_POLL = 0.25  # seconds between redraws of a progress bar while no message finishes


def message_sizes(n, first=MESSAGE_FIRST, most=MESSAGE_MOST):
    """How many of a map's ``n`` tasks each run message holds: ``first``, then twice the last, up to ``most``."""
    if first < 1 or most < first:
        raise ValueError(f"message sizes must satisfy 1 <= first <= most, not first={first!r}, most={most!r}")
    sizes, size = [], first
    while n > 0:
        sizes.append(min(size, n))
        n -= sizes[-1]
        size = min(2 * size, most)
    return sizes


class MapStream:
    """A load-balanced map's tasks, sent in short run messages, their results collected in order.

    The controller accepts and stores a run message whole, in one turn, and
    answers no engine meanwhile: messages of a thousand tasks left engines
    that hold only a task or two ahead idle for tens of milliseconds, each
    time one arrived, and the first task could not start before all of them
    were pickled and sent. So the messages are short (``message_sizes``),
    each sent without waiting for the answer to the one before. The results
    of each message are asked for as soon as its task ids are known and come
    once its tasks have finished, so the map's tail, the results still to
    fetch after its last task, is one message's worth. At most
    ``outstanding`` tasks (default ``MAP_OUTSTANDING``) are submitted and not
    collected at a time, so a long map does not park all its items in the
    controller at once.

    ``client`` is the TaskClient (its ``_run_request``, ``_send``,
    ``_answer``, ``_forget`` and ``_unpack_results``); ``tasks`` its MapTasks; ``shared`` what they all hold.
    """

    def __init__(self, client, tasks, outstanding=None, shared=None):
        self.client = client
        self.tasks = tasks
        self.shared = shared  # a serialize.Shared: what every task holds (the map's function), pickled once
        self.sizes = message_sizes(len(tasks))
        self.outstanding = max(MAP_OUTSTANDING if outstanding is None else outstanding, MESSAGE_MOST)
        self._runs = deque()  # (rid, n): run messages sent whose task ids are not read yet
        self._gets = deque()  # (rid, ids): results asked for and not collected yet
        self._sent = 0

    def taskids(self):
        """The ids of the submitted tasks whose results were not collected (all of them while
        ``results`` waits for one)."""
        return [taskid for _, ids in self._gets for taskid in ids]

    def submit(self):
        """Send every task; return their ids, in order (a non-blocking map)."""
        ids = []
        try:
            for n in self.sizes:
                self._send_run(n)
                if len(self._runs) > 1:  # the one before: answered while this one was pickled
                    ids += self._ids()
            while self._runs:
                ids += self._ids()
            return ids
        finally:
            self._forget()

    def results(self, tick=None):
        """Each task's ``(meta, buffers)``, in order, once its message has finished.

        While waiting, ``tick()`` (if given) is called every PROGRESS_POLL
        seconds. Leaving the loop early (the caller raised the first failure,
        or Ctrl-C) drops the answers still to come; those tasks run on, and
        ``taskids()`` names them.
        """
        try:
            for n in self.sizes:
                while self._in_flight() + n > self.outstanding:
                    if not self._gets:
                        self._ask_results()
                    yield from self._collect(tick)
                self._send_run(n)
                if len(self._runs) > 1:
                    self._ask_results()
            while self._runs:
                self._ask_results()
            while self._gets:
                yield from self._collect(tick)
        finally:
            self._forget()

    def _in_flight(self):
        return sum(n for _, n in self._runs) + sum(len(ids) for _, ids in self._gets)

    def _send_run(self, n):
        header, buffers = self.client._run_request(self.tasks[self._sent:self._sent + n], self.shared)
        self._runs.append((self.client._send(header, buffers), n))
        self._sent += n

    def _ids(self):
        ids, _ = self.client._answer(self._runs[0][0])
        self._runs.popleft()
        return ids

    def _ask_results(self):
        ids = self._ids()
        self._gets.append((self.client._send(messages.GetResults.header(taskids=ids, block=True)), ids))

    def _collect(self, tick):
        while self._runs:  # before a long wait: every task sent is known by its id (Ctrl-C stops them)
            self._ask_results()
        rid, ids = self._gets[0]
        value, buffers = self._wait(rid, tick)
        self._gets.popleft()
        yield from self.client._unpack_results(value, buffers, ids)

    def _wait(self, rid, tick):
        while tick is not None:
            try:
                return self.client._answer(rid, PROGRESS_POLL)
            except errors.ControllerTimeout:
                tick()
        return self.client._answer(rid)

    def _forget(self):
        """Drop the answers still to come; ``taskids()`` still names the tasks not collected."""
        rids = [rid for rid, _ in self._runs] + [rid for rid, _ in self._gets]
        if rids:
            self.client._forget(rids)
        self._runs.clear()
