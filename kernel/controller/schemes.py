"""The load-balancing schemes, each written once, and the pool of engines with a free slot.

A scheme picks one engine from a *view* of candidates through three
primitives: ``least()`` (the first by the scheme's key), ``uniform()`` and
``weighted()`` (random draws). The views differ only in how fast they
answer: the whole pool in O(log engines), the pool less some engines a task
must avoid in O(engines avoided), or a short list (the engines a ``follow``
allows). So a plain task and a restricted one are placed by the same rule.

Engines are the scheduler's records; a scheme reads their ``serial``
(incarnation number), ``last_used`` (dispatch counter), ``warmth`` (the
same, but below every used engine once its last task failed) and
``running`` (outstanding task ids); the pool keeps its bookkeeping in
``heap_key`` and ``bucket``.
"""

from __future__ import annotations

import heapq
import random
from typing import Iterable

from kernel.settings import SCHEMES

__all__ = ["SCHEMES", "Pool"]


def _weight(load: int) -> float:
    return 1.0 / (1e-6 + load)  # an idle engine weighs a million times a busy one


class _Scheme:
    """A scheme: ``pick(view)``; an ordered one also has the ``key`` the pool's heap keeps."""

    ordered = False  # least() is used: the pool keeps a heap by key
    by_load = False  # weighted() is used: the pool groups engines by load

    @staticmethod
    def key(e) -> tuple:
        raise NotImplementedError

    def pick(self, view):
        raise NotImplementedError


class _LRU(_Scheme):
    """The least recently used engine (never used ones first, by arrival)."""

    ordered = True

    @staticmethod
    def key(e):
        return (e.last_used, e.serial)

    def pick(self, view):
        return view.least()


class _LeastLoad(_Scheme):
    """The engine with the fewest outstanding tasks; the most recently used breaks ties.

    A tiny task then runs where the last one ran, in a process whose caches
    are warm, instead of on the engine idle longest: with 14 engines here,
    tasks one at a time took 140-160 µs of engine CPU each, not 180-340
    (bench/README.md, "Scale"). Never used
    engines come next, by arrival, and an engine whose last task failed
    last of all, so that one that fails everything at once does not take
    every task it is offered while others sit idle.
    """

    ordered = True

    @staticmethod
    def key(e):
        return (len(e.running), -e.warmth, e.serial)

    def pick(self, view):
        return view.least()


class _PlainRandom(_Scheme):
    def pick(self, view):
        return view.uniform()


class _TwoBin(_Scheme):
    """The less recently used of two engines drawn at random."""

    def pick(self, view):
        a, b = view.uniform(), view.uniform()
        return a if a.last_used <= b.last_used else b


class _Weighted(_Scheme):
    """The lighter of two engines drawn with weights falling with their load."""

    by_load = True

    def pick(self, view):
        x, y = view.weighted(), view.weighted()
        return y if len(y.running) < len(x.running) else x


_SCHEMES = {"lru": _LRU, "leastload": _LeastLoad, "plainrandom": _PlainRandom,
            "twobin": _TwoBin, "weighted": _Weighted}  # every one of settings.SCHEMES


class _IndexedSet:
    """Engines with O(1) add, discard, lookup and uniform random choice."""

    __slots__ = ("items", "pos")

    def __init__(self):
        self.items: list = []
        self.pos: dict[int, int] = {}

    def __len__(self):
        return len(self.items)

    def get(self, serial: int):
        i = self.pos.get(serial)
        return None if i is None else self.items[i]

    def add(self, e) -> None:
        if e.serial not in self.pos:
            self.pos[e.serial] = len(self.items)
            self.items.append(e)

    def discard(self, e) -> None:
        i = self.pos.pop(e.serial, None)
        if i is not None:
            last = self.items.pop()
            if last is not e:
                self.items[i] = last
                self.pos[last.serial] = i

    def partition(self, avoid: Iterable[int]) -> int:
        """Move the members whose serial is in ``avoid`` to the end; return how many others lead."""
        items, pos, end = self.items, self.pos, len(self.items)
        for serial in avoid:
            i = pos.get(serial)
            if i is not None:
                end -= 1
                items[i], items[end] = items[end], items[i]
                pos[items[i].serial], pos[serial] = i, end
        return end


class Pool:
    """Engines with a free slot, arranged for the scheme: a view of all of them.

    Ordered schemes keep a heap whose stale entries are skipped lazily; the
    random ones pick from an indexed list; weighted also groups engines by
    load, since all engines with the same load weigh the same.
    """

    def __init__(self, scheme: str, rng: random.Random):
        if scheme not in _SCHEMES:
            raise ValueError(f"unknown scheduler scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
        self.scheme = _SCHEMES[scheme]()
        self.rng = rng
        self.members = _IndexedSet()
        self.heap: list[tuple] = []
        self.by_load: dict[int, _IndexedSet] = {}

    def __len__(self):
        return len(self.members)

    def pick(self):
        """The scheme's choice among all free engines (the pool must not be empty)."""
        return self.scheme.pick(self)

    def pick_avoiding(self, serials):
        """The scheme's choice among the free engines whose serial is not in ``serials``, or None."""
        view = _Avoiding(self, serials)
        return self.scheme.pick(view) if view.n else None

    def pick_among(self, engines: list):
        """The scheme's choice among ``engines`` (free ones, a short list), or None if empty."""
        return self.scheme.pick(_Listed(self, engines)) if engines else None

    # -- bookkeeping ---------------------------------------------------------------------

    def update(self, e) -> None:
        """``e`` has a free slot; its load or last use may have changed."""
        self.members.add(e)
        if self.scheme.ordered:
            key = self.scheme.key(e)
            if key != e.heap_key:
                e.heap_key = key
                heapq.heappush(self.heap, key)
                if len(self.heap) > 2 * len(self.members) + 64:
                    self.heap = [m.heap_key for m in self.members.items]
                    heapq.heapify(self.heap)
        elif self.scheme.by_load and e.bucket != len(e.running):
            self._unbucket(e)
            e.bucket = len(e.running)
            self.by_load.setdefault(e.bucket, _IndexedSet()).add(e)

    def discard(self, e) -> None:
        self.members.discard(e)
        e.heap_key = None
        self._unbucket(e)

    def _unbucket(self, e) -> None:
        if e.bucket is not None:
            bucket = self.by_load[e.bucket]
            bucket.discard(e)
            if not bucket:
                del self.by_load[e.bucket]
            e.bucket = None

    def problems(self, free: list):
        """What is wrong, if anything, with the pool as the view of exactly the engines ``free``."""
        if sorted(e.serial for e in self.members.items) != sorted(e.serial for e in free):
            yield f"the pool holds engines {sorted(e.eid for e in self.members.items)}, " \
                  f"not the free ones {sorted(e.eid for e in free)}"
        heap = set(self.heap)
        for i, e in enumerate(self.members.items):
            if self.members.pos.get(e.serial) != i:
                yield f"engine {e.eid} is misplaced in the pool's index"
            if self.scheme.ordered and (e.heap_key != self.scheme.key(e) or e.heap_key not in heap):
                yield f"engine {e.eid}'s heap key {e.heap_key} is stale or missing"
            if self.scheme.by_load and (e.bucket != len(e.running)
                                        or self.by_load.get(e.bucket, _IndexedSet()).get(e.serial) is not e):
                yield f"engine {e.eid} is in load bucket {e.bucket}, not {len(e.running)}"
        if self.scheme.by_load and sum(map(len, self.by_load.values())) != len(self.members):
            yield "the load buckets hold engines the pool does not"

    # -- the view of every free engine ---------------------------------------------------

    def least(self, avoid=()):
        heap, members, put_back = self.heap, self.members, []
        try:
            while True:
                key = heap[0]
                e = members.get(key[-1])
                if e is None or e.heap_key != key:
                    heapq.heappop(heap)  # stale
                elif e.serial in avoid:
                    put_back.append(heapq.heappop(heap))
                else:
                    return e
        finally:
            for key in put_back:
                heapq.heappush(heap, key)

    def uniform(self, n=None):
        items = self.members.items
        return items[self.rng.randrange(len(items) if n is None else n)]

    def weighted(self, leads=None):
        """A draw with weights by load; ``leads``: how many leading engines of each bucket may be drawn."""
        groups = [(load, bucket, n) for load, bucket in self.by_load.items()
                  if (n := len(bucket) if leads is None else leads[load])]
        r = self.rng.random() * sum(n * _weight(load) for load, _, n in groups)
        for load, bucket, n in groups:
            span = n * _weight(load)
            if r < span:
                break
            r -= span
        return bucket.items[min(int(r / _weight(load)), n - 1)]


class _Avoiding:
    """The pool less the engines in ``avoid`` (serials); costs O(len(avoid)) to make."""

    __slots__ = ("pool", "avoid", "n", "lead", "leads")

    def __init__(self, pool: Pool, avoid):
        self.pool, self.avoid = pool, avoid
        members = pool.members
        self.n = len(members) - len(members.pos.keys() & avoid)
        self.lead = self.leads = None  # made on the first draw

    def least(self):
        return self.pool.least(self.avoid)

    def uniform(self):
        if self.lead is None:
            self.lead = self.pool.members.partition(self.avoid)
        return self.pool.uniform(self.lead)

    def weighted(self):
        if self.leads is None:
            self.leads = {load: bucket.partition(self.avoid) for load, bucket in self.pool.by_load.items()}
        return self.pool.weighted(self.leads)


class _Listed:
    """A short list of free engines."""

    __slots__ = ("pool", "engines")

    def __init__(self, pool: Pool, engines: list):
        self.pool, self.engines = pool, engines

    def least(self):
        return min(self.engines, key=self.pool.scheme.key)

    def uniform(self):
        return self.engines[self.pool.rng.randrange(len(self.engines))]

    def weighted(self):
        return self.pool.rng.choices(self.engines, [_weight(len(e.running)) for e in self.engines])[0]
