"""Restricted tasks waiting for a free slot: oldest first, indexed by the engines they may go to.

A task is restricted when it may not go to just any engine: it follows
other tasks to their engines, or it avoids engines that declined it, raised
UnmetDependency or failed it. One that follows waits in the lane of each
engine it may follow to; one that only avoids waits in the ``anywhere`` lane.
An engine with a free slot looks only at its own lane and ``anywhere``, and
only past its cursor (how far it has looked before): a task starts to fit an
engine only by being queued again, under a later sequence number. So no
engine looks at a task bound for another, and a restricted task costs its
own lanes and the engines it avoids, not a look at every engine.

Entries are never removed in place: a task that leaves (dispatched, finished,
queued again) leaves stale entries, skipped when met and dropped when a
lane is more than half stale (so a look costs O(tasks waiting), never O(tasks ever queued)).
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from typing import Iterable, Iterator

__all__ = ["RestrictedQueue"]


class _Lane:
    """Tasks by sequence number (``seqs`` parallel to ``tasks``); ``live`` counts the current ones."""

    __slots__ = ("tasks", "seqs", "live")

    def __init__(self):
        self.tasks: list = []
        self.seqs: list[int] = []
        self.live = 0

    def append(self, t, seq: int) -> None:
        if len(self.tasks) > 2 * self.live + 16:
            keep = [(p, s) for p, s in zip(self.tasks, self.seqs) if _current(p, s)]
            self.tasks = [p for p, _ in keep]
            self.seqs = [s for _, s in keep]
        self.tasks.append(t)
        self.seqs.append(seq)
        self.live += 1

    def since(self, seq: int) -> Iterator[tuple]:
        """``(seq, task)`` of the entries after ``seq``, in order, lazily."""
        at = range(bisect_right(self.seqs, seq), len(self.seqs))
        return zip(map(self.seqs.__getitem__, at), map(self.tasks.__getitem__, at))

    def current(self) -> Iterator:
        return (t for t, seq in zip(self.tasks, self.seqs) if _current(t, seq))


def _current(t, seq: int) -> bool:
    """Whether an entry still stands for a waiting task (it was not queued again or taken out)."""
    return t.pseq == seq and bool(t.lanes)


class RestrictedQueue:
    """The restricted tasks; tasks carry ``pseq`` (their sequence number) and ``lanes`` (where they wait)."""

    def __init__(self):
        self.anywhere = _Lane()
        self.on: dict[int, _Lane] = {}  # engine serial -> tasks that may follow there
        self.seq = 0
        self.count = 0  # tasks waiting

    def add(self, t, serials: Iterable[int] | None = None) -> None:
        """Queue ``t``: in the lanes of the engines ``serials``, or anywhere if None."""
        self.seq += 1
        t.pseq = self.seq
        if serials is None:
            lanes = (self.anywhere,)
        else:
            lanes = tuple(self.on.setdefault(s, _Lane()) for s in serials)
        for lane in lanes:
            lane.append(t, self.seq)
        t.lanes = lanes
        self.count += 1

    def remove(self, t) -> None:
        """``t`` no longer waits here (its entries go stale)."""
        for lane in t.lanes:
            lane.live -= 1
        t.lanes = ()
        self.count -= 1

    def drop_engine(self, serial: int) -> None:
        """The engine is gone: its lane goes (its tasks are queued again or fail)."""
        self.on.pop(serial, None)

    def after(self, e) -> Iterator:
        """The waiting tasks ``e`` may take that it has not looked at, oldest first.

        Moves ``e.cursor`` past each task as it is yielded: ask for the next
        one only if ``e`` can take it.
        """
        entries = self.anywhere.since(e.cursor)
        own = self.on.get(e.serial)
        if own is not None:
            entries = heapq.merge(entries, own.since(e.cursor))
        for seq, t in entries:
            e.cursor = seq
            if t.pseq == seq and t.lanes:
                yield t

    def anywhere_tasks(self) -> list:
        """The waiting tasks that avoid engines, rather than follow them."""
        return list(self.anywhere.current())

    def problems(self, waiting: dict, live_serials) -> Iterator[str]:
        """What is wrong with the queue, if ``waiting`` (taskid -> task) are the restricted tasks."""
        seen: dict[int, int] = {}
        for lane in (self.anywhere, *self.on.values()):
            if lane.seqs != sorted(lane.seqs):
                yield "a lane of restricted tasks is out of order"
            current = list(lane.current())
            if len(current) != lane.live:
                yield f"a lane counts {lane.live} waiting tasks but holds {len(current)}"
            for t in current:
                seen[t.taskid] = seen.get(t.taskid, 0) + 1
        if self.count != len(waiting):
            yield f"{self.count} restricted tasks counted, {len(waiting)} waiting"
        for taskid, t in waiting.items():
            if seen.get(taskid, 0) != len(t.lanes):
                yield f"task {taskid} waits in {seen.get(taskid, 0)} lanes, not its {len(t.lanes)}"
            if t.follow is None and t.lanes != (self.anywhere,):
                yield f"task {taskid} avoids engines but does not wait anywhere"
        for taskid in seen.keys() - waiting.keys():
            yield f"task {taskid} is in a lane of restricted tasks but not restricted"
        for serial in self.on.keys() - set(live_serials):
            yield f"a lane is kept for the engine of incarnation {serial}, which is gone"
