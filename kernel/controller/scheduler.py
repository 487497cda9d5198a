"""The task scheduler of the controller, as a pure state machine.

Events go in as method calls (an engine arrives or dies, a task is submitted
or finishes, time passes) and each returns the actions the controller must
perform, in order: :class:`Dispatch` a task to an engine, or :class:`Finish`
it. There is no I/O, clock, thread or pickle here, so every decision can be
replayed in a test; payloads stay with the controller, which finds them again
from ``Dispatch.spec`` (the submitted spec or one of its recovery specs).

Cost. A task with no constraints sits in a plain deque, and the engines with
a free slot sit in a heap or an indexed list, so submitting, dispatching and
finishing it costs O(log engines) however long the queue is (weighted: O(number
of distinct loads)). A task with a ``depend()`` counts as unconstrained until
an engine declines it. Restricted tasks (engines to follow or avoid) wait in a
separate list that an engine scans only from where it stopped last time; tasks
waiting for other tasks are woken by the prerequisite that finishes. A
restricted task that fits a free slot goes before the plain backlog, so it is
not starved by tasks that could run anywhere.

Timeouts fail a task only while it *cannot* run (prerequisites unfinished, no
engine alive, or every live engine refused it): a task merely queued behind
busy engines is never timed out.

Rounds. A task that raises UnmetDependency on an engine is not offered to it
again until every live engine has refused it (declined or unmet, at least one
unmet). That ends a round and costs a retry: the task rests for
``round_delay`` seconds (engine namespaces may change meanwhile, unseen) and
then goes round them all again; a property change on an engine that refused
it, or ``spin``, ends the rest at once, and a new engine may take it at any
time. With no retries left the recovery spec takes over, or a task with a
timeout waits it out, or it fails with UnmetDependency naming the engines.
Declines alone never end a round: property changes, which the controller
sees, decide those.

Engines are told apart by an incarnation number as well as their id: an id
may be reused by a new engine, which must not inherit its predecessor's
``follow`` tasks or refusals.
"""

from __future__ import annotations

import heapq
import random
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass
from typing import Optional, Union

from kernel.errors import NoSuchTask, TaskAlreadyFinished
from kernel.settings import SCHEMES

from .dependencies import IMPOSSIBLE, WAITING, Dependency, Watch

__all__ = ["Scheduler", "TaskSpec", "Dependency", "Dispatch", "Finish", "SCHEMES", "OUTCOMES"]

OUTCOMES = ("success", "failure", "declined", "unmet")

ENGINE_DIED = "EngineDied"
POISON_TASK = "PoisonTask"
TASK_ABORTED = "TaskAborted"
IMPOSSIBLE_DEPENDENCY = "ImpossibleDependency"
UNMET_DEPENDENCY = "UnmetDependency"
DEPENDENCY_TIMEOUT = "DependencyTimeout"

# Where a live task is. Scheduled tasks are in one of the first three.
_DEPS = "deps"  # waiting for prerequisites (in self._dependents)
_READY = "ready"  # unrestricted, in self._ready
_PICKY = "picky"  # restricted to some engines, in self._picky
_RUNNING = "running"


@dataclass
class TaskSpec:
    """The scheduling metadata of one task; the payload stays with the controller."""

    taskid: int
    retries: int = 0
    has_depend: bool = False  # the engine runs a depend() and may decline
    after: Optional[Dependency] = None
    follow: Optional[Dependency] = None
    timeout: Optional[float] = None  # seconds from submission, while it cannot run
    recovery: Optional["TaskSpec"] = None  # runs under the same taskid once retries run out


@dataclass
class Dispatch:
    """Send ``spec``'s payload to engine ``eid`` as task ``taskid``."""

    taskid: int
    eid: int
    spec: TaskSpec


@dataclass
class Finish:
    """The final outcome of a task; ``error=None`` means the engine's reply is the result."""

    taskid: int
    succeeded: bool
    error: Optional[str] = None
    message: str = ""


Action = Union[Dispatch, Finish]


def _weight(load: int) -> float:
    return 1.0 / (1e-6 + load)  # an idle engine weighs a million times a busy one


class _Engine:
    __slots__ = ("eid", "serial", "running", "last_used", "cursor", "declined_by",
                 "heap_key", "bucket")

    def __init__(self, eid: int, serial: int):
        self.eid = eid
        self.serial = serial  # incarnation number, never reused
        self.running: set[int] = set()  # outstanding taskids, aborted ones included
        self.last_used = serial - (1 << 62)  # never used: before all used ones, by arrival
        self.cursor = 0  # restricted tasks up to this pseq do not fit this engine
        self.declined_by: set[int] = set()  # tasks whose depend() said no here
        self.heap_key: Optional[tuple] = None
        self.bucket: Optional[int] = None


class _Task:
    __slots__ = ("taskid", "spec", "gen", "where", "engine", "pseq", "retries", "deaths",
                 "killed", "declined", "unmet", "failed_on", "after", "follow", "deadline",
                 "rounds", "rest", "rest_until")

    def __init__(self, taskid: int, spec: TaskSpec):
        self.taskid = taskid
        self.gen = 0  # bumped when a recovery spec takes over, to spot stale entries
        self.where: Optional[str] = None
        self.engine: Optional[_Engine] = None
        self.pseq = 0
        self.rearm(spec)

    def rearm(self, spec: TaskSpec) -> None:
        """Start afresh with ``spec``: a recovery spec is different code."""
        self.spec = spec
        self.retries = spec.retries
        self.deaths = 0
        self.killed: Optional[list] = None  # ids of engines that died running it
        self.declined: Optional[set] = None  # engine serials; cleared by properties_changed
        self.unmet: Optional[set] = None  # engine serials; until the round ends
        self.failed_on: Optional[set] = None  # engine serials to avoid while possible
        self.after: Optional[Watch] = None
        self.follow: Optional[Watch] = None
        self.deadline: Optional[float] = None
        self.rounds = 0  # times every live engine refused it
        self.rest: Optional[int] = None  # set while resting after a round (see _rest)
        self.rest_until: Optional[float] = None  # when the rest ends; None: only by an event


class _IndexedSet:
    """Engines with O(1) add, discard, lookup and uniform random choice."""

    __slots__ = ("items", "pos")

    def __init__(self):
        self.items: list[_Engine] = []
        self.pos: dict[int, int] = {}

    def __len__(self):
        return len(self.items)

    def get(self, serial: int) -> Optional[_Engine]:
        i = self.pos.get(serial)
        return None if i is None else self.items[i]

    def add(self, e: _Engine) -> None:
        if e.serial not in self.pos:
            self.pos[e.serial] = len(self.items)
            self.items.append(e)

    def discard(self, e: _Engine) -> None:
        i = self.pos.pop(e.serial, None)
        if i is not None:
            last = self.items.pop()
            if last is not e:
                self.items[i] = last
                self.pos[last.serial] = i


class _Pool:
    """Engines with a free slot, arranged so the scheme picks one in O(log n).

    leastload and lru keep a heap whose stale entries are skipped lazily; the
    random schemes pick from an indexed list; weighted also groups engines by
    load, since all engines with the same load weigh the same.
    """

    def __init__(self, scheme: str, rng: random.Random):
        self.scheme = scheme
        self.rng = rng
        self.members = _IndexedSet()
        self.heap: list[tuple] = []
        self.by_load: dict[int, _IndexedSet] = {}

    def __len__(self):
        return len(self.members)

    def _key(self, e: _Engine) -> tuple:
        if self.scheme == "leastload":
            return (len(e.running), e.last_used, e.serial)
        return (e.last_used, e.serial)

    def update(self, e: _Engine) -> None:
        """``e`` has a free slot; its load or last use may have changed."""
        self.members.add(e)
        if self.scheme in ("leastload", "lru"):
            key = self._key(e)
            if key != e.heap_key:
                e.heap_key = key
                heapq.heappush(self.heap, key)
                if len(self.heap) > 2 * len(self.members) + 64:
                    self.heap = [m.heap_key for m in self.members.items]
                    heapq.heapify(self.heap)
        elif self.scheme == "weighted" and e.bucket != len(e.running):
            self._unbucket(e)
            e.bucket = len(e.running)
            self.by_load.setdefault(e.bucket, _IndexedSet()).add(e)

    def discard(self, e: _Engine) -> None:
        self.members.discard(e)
        e.heap_key = None
        self._unbucket(e)

    def _unbucket(self, e: _Engine) -> None:
        if e.bucket is not None:
            bucket = self.by_load[e.bucket]
            bucket.discard(e)
            if not bucket:
                del self.by_load[e.bucket]
            e.bucket = None

    def pick(self) -> _Engine:
        if self.scheme in ("leastload", "lru"):
            heap, members = self.heap, self.members
            while True:
                key = heap[0]
                e = members.get(key[-1])
                if e is not None and e.heap_key == key:
                    return e
                heapq.heappop(heap)
        if self.scheme == "weighted":
            x, y = self._weighted_sample(), self._weighted_sample()
            return y if len(y.running) < len(x.running) else x
        items, rng = self.members.items, self.rng
        a = items[rng.randrange(len(items))]
        if self.scheme == "plainrandom":
            return a
        b = items[rng.randrange(len(items))]  # twobin: the less recently used of two
        return a if a.last_used <= b.last_used else b

    def _weighted_sample(self) -> _Engine:
        r = self.rng.random() * sum(len(b) * _weight(load) for load, b in self.by_load.items())
        for load, bucket in self.by_load.items():
            span = len(bucket) * _weight(load)
            if r < span:
                break
            r -= span
        return bucket.items[min(int(r / _weight(load)), len(bucket) - 1)]


class Scheduler:
    """Assigns tasks to engines; see the module docstring.

    ``hwm`` is the most tasks outstanding on one engine (0: no limit);
    ``poison_after`` is how many engines may die running one task before it
    is failed as poison (0 or None: never); ``round_delay`` is how long a task
    every engine refused rests before it goes round them again.
    """

    def __init__(self, scheme: str = "leastload", *, hwm: int = 2,
                 poison_after: Optional[int] = 3, rng: Optional[random.Random] = None,
                 round_delay: float = 1.0):
        if scheme not in SCHEMES:
            raise ValueError(f"unknown scheduler scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
        if hwm < 0:
            raise ValueError(f"hwm must be 0 (no limit) or positive, not {hwm!r}")
        if not isinstance(round_delay, (int, float)) or not round_delay >= 0:
            raise ValueError(f"round_delay must be a number of seconds, 0 or more, not {round_delay!r}")
        self.round_delay = round_delay
        self.scheme = scheme
        self.hwm = hwm
        self.poison_after = poison_after
        self._rng = rng if rng is not None else random.Random()
        self._pool = _Pool(scheme, self._rng)
        self._engines: dict[int, _Engine] = {}
        self._live: dict[int, _Engine] = {}  # serial -> engine
        self._eid_of: dict[int, int] = {}  # serial -> eid, for messages about dead engines
        self._serials = 0
        self._uses = 0  # dispatch counter: the clock of least-recently-used
        self._tasks: dict[int, _Task] = {}  # scheduled and pending
        self._done: dict[int, tuple[bool, Optional[int]]] = {}  # -> (succeeded, engine serial)
        self._zombies: dict[int, _Engine] = {}  # aborted while running; slot still held
        self._ready: deque[_Task] = deque()
        self._picky: list[_Task] = []  # restricted tasks by pseq; stale entries skipped
        self._picky_seq: list[int] = []
        self._picky_live = 0
        self._pseq = 0
        self._dependents: dict[int, list] = {}  # prerequisite -> [(task, watch, gen)]
        self._followers: dict[int, _Task] = {}  # scheduled tasks with a follow
        self._deadlines: list[tuple] = []  # heap of (deadline, taskid, gen)
        self._overdue: dict[int, _Task] = {}  # past deadline, not dispatched yet
        self._resting: dict[int, _Task] = {}  # refused by every engine, between rounds
        self._wakeups: list[tuple] = []  # heap of (rest_until, rest, taskid); stale ones skipped
        self._rests = 0
        self._fresh: list[_Engine] = []  # engines that just got a free slot
        self._finished: deque[int] = deque()  # finished tasks whose dependents must hear of it
        self._n_pending = self._n_succeeded = self._n_failed = 0

    # ----------------------------------------------------------------- events

    def add_engine(self, eid: int, now: float) -> list[Action]:
        if eid in self._engines:
            raise ValueError(f"engine {eid} is already registered")
        self._serials += 1
        e = _Engine(eid, self._serials)
        self._engines[eid] = self._live[e.serial] = e
        self._eid_of[e.serial] = eid
        self._pool.update(e)
        self._fresh.append(e)
        return self._settle([])

    def remove_engine(self, eid: int, now: float, reason: str = "", unstarted=()) -> list[Action]:
        """The engine is gone; its tasks are retried elsewhere or fail. Unknown ids are ignored.

        Tasks in ``unstarted`` were sent to it but had not begun (queued behind
        the running one): they go back to the queue at no cost to their retries.
        """
        e = self._engines.pop(eid, None)
        if e is None:
            return []
        del self._live[e.serial]
        self._pool.discard(e)
        actions: list[Action] = []
        for taskid in sorted(e.running):
            if self._zombies.pop(taskid, None) is not None:
                continue
            t = self._tasks[taskid]
            if taskid in unstarted:
                self._unplace(t)
                t.engine = None
                self._requeue(t, now, actions)
            else:
                self._engine_died(t, eid, reason, now, actions)
        e.running.clear()
        # Tasks that follow this engine, or would rather avoid the survivors,
        # may now be impossible or less picky; the survivors may all have refused some.
        affected = dict(self._followers)
        for t, seq in zip(self._picky, self._picky_seq):
            if t.pseq == seq and t.where is _PICKY and (t.failed_on or t.unmet):
                affected[t.taskid] = t
        for t in affected.values():
            if t.where is _DEPS or t.where is _PICKY:
                self._unplace(t)
                self._check(t, actions)
                self._end_round_if_refused(t, now, actions)
        return self._settle(actions)

    def restore_finished(self, taskid: int, succeeded: bool, counted: bool = True) -> None:
        """A task that finished earlier (before a restart, or forgotten): later tasks may
        depend on it, though not follow it. ``counted=False`` if the counts have it already."""
        if taskid in self._tasks or taskid in self._done:
            raise ValueError(f"task {taskid} is already known")
        self._done[taskid] = (succeeded, None)
        if counted and succeeded:
            self._n_succeeded += 1
        elif counted:
            self._n_failed += 1

    def forget_finished(self, taskid: int) -> None:
        """Drop a finished task's record (it stays in the counts); keeps memory bounded."""
        self._done.pop(taskid, None)

    def knows(self, taskid: int) -> bool:
        return taskid in self._tasks or taskid in self._done

    def submit(self, spec: TaskSpec, now: float) -> list[Action]:
        taskid = spec.taskid
        if not isinstance(taskid, int) or isinstance(taskid, bool):
            raise TypeError(f"an integer task id expected: {taskid!r}")
        if taskid in self._tasks or taskid in self._done:
            raise ValueError(f"task {taskid} was already submitted")
        _validate_chain(spec)
        t = self._tasks[taskid] = _Task(taskid, spec)
        actions: list[Action] = []
        self._start(t, now, actions)
        return self._settle(actions)

    def task_done(self, taskid: int, eid: int, outcome: str, now: float) -> list[Action]:
        """Engine ``eid`` reports on ``taskid``. Late reports (the engine was given up on) are ignored."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; use one of {', '.join(OUTCOMES)}")
        e = self._engines.get(eid)
        if e is None or taskid not in e.running:
            if taskid not in self._tasks and taskid not in self._done:
                raise KeyError(f"No task #{taskid}")
            return []
        actions: list[Action] = []
        self._release(e, taskid)
        if self._zombies.pop(taskid, None) is not None:
            return self._settle(actions)  # aborted: only the slot mattered
        t = self._tasks[taskid]
        self._unplace(t)
        t.engine = None
        if outcome == "success":
            self._finish(t, True, None, "", actions, e.serial)
        elif outcome == "failure":
            if t.retries > 0:
                t.retries -= 1
                t.failed_on = (t.failed_on or set()) | {e.serial}
                self._requeue(t, now, actions)
            elif t.spec.recovery is not None:
                self._recover(t, now, actions)
            else:
                self._finish(t, False, None, "", actions, e.serial)
        else:
            if outcome == "declined":
                t.declined = (t.declined or set()) | {e.serial}
                e.declined_by.add(taskid)
            else:
                t.unmet = (t.unmet or set()) | {e.serial}
            self._requeue(t, now, actions)
            self._end_round_if_refused(t, now, actions)
        return self._settle(actions)

    def properties_changed(self, eid: int, now: float) -> list[Action]:
        """The engine may now accept tasks its depend() declined, or that raised UnmetDependency there."""
        e = self._engines[eid]
        actions: list[Action] = []
        for taskid in sorted(e.declined_by):
            t = self._tasks.get(taskid)
            if t is not None and t.declined:
                t.declined.discard(e.serial)
                if t.where is _PICKY:
                    self._unplace(t)
                    self._check(t, actions)
        e.declined_by.clear()
        for t in list(self._resting.values()):
            if t.rest is not None and t.unmet and e.serial in t.unmet:
                self._wake(t, actions)
        return self._settle(actions)

    def spin(self, now: float) -> list[Action]:
        """``tick``, then end every rest: tasks that every engine refused go round them again now."""
        actions = self.tick(now)
        for t in list(self._resting.values()):
            if t.rest is not None:
                self._wake(t, actions)
        return self._settle(actions)

    def abort(self, taskid: int, now: float) -> list[Action]:
        """Fail the task with TaskAborted now; a running one keeps its slot until its engine reports."""
        if not isinstance(taskid, int) or isinstance(taskid, bool):
            raise TypeError(f"an integer task id expected: {taskid!r}")
        if taskid in self._zombies:
            raise TaskAlreadyFinished("Task Already Aborted")
        t = self._tasks.get(taskid)
        if t is None:
            if taskid in self._done:
                raise TaskAlreadyFinished("Task Already Completed")
            raise NoSuchTask(f"No task #{taskid}")
        place = None
        if t.where is _RUNNING:
            self._zombies[taskid] = t.engine
            place = t.engine.serial
        actions: list[Action] = []
        self._finish(t, False, TASK_ABORTED, f"task {taskid} was aborted", actions, place)
        return self._settle(actions)

    def tick(self, now: float) -> list[Action]:
        """Fail waiting tasks whose timeout has passed and that cannot run."""
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            _, taskid, gen = heapq.heappop(heap)
            t = self._tasks.get(taskid)
            if t is not None and t.gen == gen:
                self._overdue[taskid] = t
        actions: list[Action] = []
        for taskid, t in list(self._overdue.items()):
            if t.where is _RUNNING:
                del self._overdue[taskid]  # _requeue puts it back if it returns late
                continue
            why = self._blocker(t)
            if why:  # otherwise it can run and only waits for a free slot
                self._finish(t, False, DEPENDENCY_TIMEOUT,
                             f"task {taskid} timed out after {t.spec.timeout:g} s {why}", actions)
        wakeups = self._wakeups
        while wakeups and wakeups[0][0] <= now:
            _, rest, taskid = heapq.heappop(wakeups)
            t = self._resting.get(taskid)
            if t is not None and t.rest == rest:
                self._wake(t, actions)
        return self._settle(actions)

    # ---------------------------------------------------------------- queries

    def status(self, verbose: bool = False) -> dict:
        """Counts (or sorted id lists) of scheduled, pending, succeeded and failed tasks."""
        if not verbose:
            return {"scheduled": len(self._tasks) - self._n_pending, "pending": self._n_pending,
                    "succeeded": self._n_succeeded, "failed": self._n_failed}
        out: dict[str, list[int]] = {"scheduled": [], "pending": [], "succeeded": [], "failed": []}
        for taskid, t in self._tasks.items():
            out["pending" if t.where is _RUNNING else "scheduled"].append(taskid)
        for taskid, (ok, _) in self._done.items():
            out["succeeded" if ok else "failed"].append(taskid)
        return {k: sorted(v) for k, v in out.items()}

    def state(self, taskid: int) -> str:
        t = self._tasks.get(taskid)
        if t is not None:
            return "pending" if t.where is _RUNNING else "scheduled"
        if taskid in self._done:
            return "succeeded" if self._done[taskid][0] else "failed"
        raise KeyError(f"No task #{taskid}")

    def waiting_reason(self, taskid: int) -> Optional[str]:
        """Why a scheduled task has not been dispatched; None if it is not waiting."""
        t = self._tasks.get(taskid)
        if t is None:
            if taskid in self._done:
                return None
            raise KeyError(f"No task #{taskid}")
        if t.where is _RUNNING:
            return None
        return self._blocker(t) or "waiting for a free engine slot (engines are at their hwm)"

    def rounds(self, taskid: int) -> int:
        """How many times every live engine has refused the task (its current spec); 0 once finished."""
        t = self._tasks.get(taskid)
        if t is None and taskid not in self._done:
            raise KeyError(f"No task #{taskid}")
        return 0 if t is None else t.rounds

    def engine_load(self, eid: int) -> int:
        """Tasks outstanding on the engine, aborted ones still running included."""
        return len(self._engines[eid].running)

    # -------------------------------------------------------------- internals

    def _start(self, t: _Task, now: float, actions: list) -> None:
        """Arm ``t`` for its current spec: deadline, then graph dependencies."""
        spec = t.spec
        if spec.timeout:
            t.deadline = now + spec.timeout
            heapq.heappush(self._deadlines, (t.deadline, t.taskid, t.gen))
        unknown = []
        for kind in ("after", "follow"):
            dep = getattr(spec, kind)
            if dep is None or not dep.ids:
                continue
            if not (dep.success or dep.failure):
                msg = f"task {t.taskid} can never run: its {kind} counts neither success nor failure"
                return self._finish(t, False, IMPOSSIBLE_DEPENDENCY, msg, actions)
            if t.taskid in dep.ids:
                msg = f"task {t.taskid} can never run: it depends on itself"
                return self._finish(t, False, IMPOSSIBLE_DEPENDENCY, msg, actions)
            w = Watch(dep)
            for pid in sorted(dep.ids):
                if pid in self._done:
                    w.note(pid, *self._done[pid])
                elif pid in self._tasks:
                    self._dependents.setdefault(pid, []).append((t, w, t.gen))
                else:
                    unknown.append(pid)
            setattr(t, kind, w)
        if unknown:
            msg = f"task {t.taskid} depends on unknown tasks {sorted(set(unknown))}"
            return self._finish(t, False, IMPOSSIBLE_DEPENDENCY, msg, actions)
        if t.follow is not None:
            self._followers[t.taskid] = t
        self._check(t, actions)

    def _check(self, t: _Task, actions: list) -> None:
        """Place an unplaced ``t``, keep it waiting for prerequisites, or fail it as impossible."""
        waiting = False
        for kind, w in (("after", t.after), ("follow", t.follow)):
            if w is not None:
                verdict = w.verdict()
                if verdict is IMPOSSIBLE:
                    msg = f"task {t.taskid} can never run: {w.why_impossible(kind)}"
                    return self._finish(t, False, IMPOSSIBLE_DEPENDENCY, msg, actions)
                waiting = waiting or verdict is WAITING
        if t.follow is not None:
            problem = t.follow.place_problem(self._live.__contains__, self._eid_of.get)
            if problem:
                msg = f"task {t.taskid} can never run: {problem}"
                return self._finish(t, False, IMPOSSIBLE_DEPENDENCY, msg, actions)
            # follow-any whose counted prerequisites all ran on dead engines: wait for the rest
            waiting = waiting or not any(p in self._live for p in t.follow.where)
        if waiting:
            t.where = _DEPS
        else:
            self._enqueue(t, actions)

    def _enqueue(self, t: _Task, actions: list) -> None:
        """Queue a task whose prerequisites are met: plain deque, a free engine, or the picky list."""
        if t.follow is None and not t.declined and not t.unmet and not t.failed_on:
            t.where = _READY
            self._ready.append(t)
            return
        fits = [e for e in self._pool.members.items if self._fits(t, e)]
        if fits:
            return self._dispatch(t, self._choose(fits), actions)
        if len(self._picky) > 64 and len(self._picky) > 2 * self._picky_live:
            keep = [(p, s) for p, s in zip(self._picky, self._picky_seq)
                    if p.pseq == s and p.where is _PICKY]
            self._picky = [p for p, _ in keep]
            self._picky_seq = [s for _, s in keep]
        self._pseq += 1
        t.where, t.pseq = _PICKY, self._pseq
        self._picky.append(t)
        self._picky_seq.append(self._pseq)
        self._picky_live += 1

    def _requeue(self, t: _Task, now: float, actions: list) -> None:
        """``t`` came back undone from an engine; it goes to the back of the queue."""
        if t.deadline is not None and now >= t.deadline:
            self._overdue[t.taskid] = t
        self._check(t, actions)

    def _recover(self, t: _Task, now: float, actions: list) -> None:
        """Retries ran out: the recovery spec takes over the task id."""
        self._end_rest(t)
        t.gen += 1
        t.rearm(t.spec.recovery)
        self._followers.pop(t.taskid, None)
        self._overdue.pop(t.taskid, None)
        self._start(t, now, actions)

    def _engine_died(self, t: _Task, eid: int, reason: str, now: float, actions: list) -> None:
        self._unplace(t)
        place = t.engine.serial
        t.engine = None
        t.deaths += 1
        t.killed = (t.killed or []) + [eid]
        if self.poison_after and t.deaths >= self.poison_after:
            engines = ", ".join(map(str, t.killed))
            msg = (f"task {t.taskid} killed {t.deaths} engines ({engines}) and was not retried; "
                   f"check the task for crashes (last engine: {reason or 'no reason given'})")
            self._finish(t, False, POISON_TASK, msg, actions, place)
        elif t.retries > 0:
            t.retries -= 1
            self._requeue(t, now, actions)
        elif t.spec.recovery is not None:
            self._recover(t, now, actions)
        else:
            msg = f"engine {eid} died while running task {t.taskid}" + (f": {reason}" if reason else "")
            self._finish(t, False, ENGINE_DIED, msg, actions, place)

    def _end_round_if_refused(self, t: _Task, now: float, actions: list) -> None:
        """If every live engine has now refused ``t`` (one at least by UnmetDependency), the
        round is over: a retry buys the next one after a rest; without one the recovery spec
        takes over, a task with a timeout waits it out, and any other fails."""
        if (t.where is not _PICKY or t.rest is not None or not t.unmet
                or not any(s in self._live for s in t.unmet)
                or any(self._hard_fits(t, e) for e in self._live.values())):
            return
        t.rounds += 1
        if t.retries > 0:
            t.retries -= 1
            self._rest(t, now + self.round_delay)
        elif t.spec.recovery is not None:
            self._unplace(t)
            self._recover(t, now, actions)
        elif t.deadline is not None:
            self._rest(t, None)
        else:
            rounds = f"{t.rounds} round{'s' if t.rounds > 1 else ''}"
            msg = (f"task {t.taskid} was refused by every engine in {rounds} "
                   f"({self._refusals(t)}) and has no retries left")
            self._finish(t, False, UNMET_DEPENDENCY, msg, actions)

    def _rest(self, t: _Task, until: Optional[float]) -> None:
        """Park ``t`` (in the picky list, where only a new engine fits it) until ``until`` or an event."""
        self._rests += 1
        t.rest, t.rest_until = self._rests, until
        self._resting[t.taskid] = t
        if until is not None:
            heapq.heappush(self._wakeups, (until, t.rest, t.taskid))

    def _end_rest(self, t: _Task) -> None:
        if t.rest is not None:
            del self._resting[t.taskid]
            t.rest = t.rest_until = None

    def _wake(self, t: _Task, actions: list) -> None:
        """The next round: the engines that raised UnmetDependency may be offered ``t`` again."""
        self._end_rest(t)
        t.unmet = None
        self._unplace(t)
        self._check(t, actions)

    def _finish(self, t: _Task, ok: bool, error: Optional[str], message: str,
                actions: list, place: Optional[int] = None) -> None:
        """Record the outcome; only (succeeded, engine) stays behind for dependents and status."""
        self._end_rest(t)
        self._unplace(t)
        taskid = t.taskid
        del self._tasks[taskid]
        self._followers.pop(taskid, None)
        self._overdue.pop(taskid, None)
        self._done[taskid] = (ok, place)
        if ok:
            self._n_succeeded += 1
        else:
            self._n_failed += 1
        actions.append(Finish(taskid, ok, error, message))
        if taskid in self._dependents:
            self._finished.append(taskid)

    def _settle(self, actions: list) -> list:
        """Tell dependents about finished tasks (iteratively: chains can be long), then dispatch."""
        while self._finished:
            pid = self._finished.popleft()
            ok, place = self._done[pid]
            for t, w, gen in self._dependents.pop(pid, ()):
                if t.gen != gen or self._tasks.get(t.taskid) is not t:
                    continue
                w.note(pid, ok, place)
                if t.where is _DEPS or (t.where is _PICKY and w is t.follow):
                    self._unplace(t)
                    self._check(t, actions)
        fresh, self._fresh = self._fresh, []
        for e in fresh:
            if self._live.get(e.serial) is e:
                self._feed(e, actions)
        ready, pool = self._ready, self._pool
        while ready and pool:
            t = ready.popleft()
            if t.where is _READY:
                self._dispatch(t, pool.pick(), actions)
        return actions

    def _feed(self, e: _Engine, actions: list) -> None:
        """Give e's free slots to the oldest restricted tasks that fit it.

        ``e.cursor`` remembers how far e has looked: a restricted task only
        starts to fit an engine by being queued again, under a later pseq.
        """
        seqs, picky = self._picky_seq, self._picky
        if not seqs or e.cursor >= seqs[-1]:
            return
        i = bisect_right(seqs, e.cursor)
        while i < len(seqs) and self._has_slot(e):
            t, e.cursor = picky[i], seqs[i]
            if t.pseq == e.cursor and t.where is _PICKY and self._fits(t, e):
                self._dispatch(t, e, actions)
            i += 1

    def _dispatch(self, t: _Task, e: _Engine, actions: list) -> None:
        self._end_rest(t)
        self._unplace(t)
        t.where, t.engine = _RUNNING, e
        self._n_pending += 1
        e.running.add(t.taskid)
        self._uses += 1
        e.last_used = self._uses
        if self._has_slot(e):
            self._pool.update(e)
        else:
            self._pool.discard(e)
        actions.append(Dispatch(t.taskid, e.eid, t.spec))

    def _release(self, e: _Engine, taskid: int) -> None:
        e.running.discard(taskid)
        if self.hwm and len(e.running) == self.hwm - 1:
            self._fresh.append(e)
        self._pool.update(e)

    def _unplace(self, t: _Task) -> None:
        if t.where is _PICKY:
            self._picky_live -= 1
        elif t.where is _RUNNING:
            self._n_pending -= 1
        t.where = None

    def _has_slot(self, e: _Engine) -> bool:
        return not self.hwm or len(e.running) < self.hwm

    def _hard_fits(self, t: _Task, e: _Engine) -> bool:
        s = e.serial
        if (t.declined and s in t.declined) or (t.unmet and s in t.unmet):
            return False
        return t.follow is None or s in t.follow.where

    def _fits(self, t: _Task, e: _Engine) -> bool:
        """May ``t`` go to ``e``? An engine that failed it only if no other live engine could take it."""
        if not self._hard_fits(t, e):
            return False
        if t.failed_on and e.serial in t.failed_on:
            return not any(o.serial not in t.failed_on and self._hard_fits(t, o)
                           for o in self._live.values())
        return True

    def _choose(self, engines: list) -> _Engine:
        """The scheme's pick among some engines with a free slot (for restricted tasks)."""
        engines.sort(key=lambda e: e.last_used)  # LRU order, as the 0.11 schemes expect
        rng, n = self._rng, len(engines)
        if self.scheme == "lru":
            return engines[0]
        if self.scheme == "leastload":
            return min(engines, key=lambda e: len(e.running))  # first minimum: LRU breaks ties
        if self.scheme == "plainrandom":
            return engines[rng.randrange(n)]
        if self.scheme == "twobin":
            return engines[min(rng.randrange(n), rng.randrange(n))]
        x, y = rng.choices(engines, [_weight(len(e.running)) for e in engines], k=2)
        return y if len(y.running) < len(x.running) else x

    def _blocker(self, t: _Task) -> Optional[str]:
        """Why a scheduled task cannot run even with free slots, or None if it can."""
        if t.where is _DEPS:
            ids = sorted({i for w in (t.after, t.follow) if w for i in w.dep.ids} - self._done.keys())
            return f"waiting for tasks {ids}"
        if not self._live:
            return "waiting for an engine"
        if t.where is _PICKY and not any(self._fits(t, e) for e in self._live.values()):
            parts = [self._refusals(t)] if t.declined or t.unmet else []
            if t.follow is not None:
                eids = sorted(self._live[s].eid for s in t.follow.where if s in self._live)
                parts.append(f"must follow tasks {sorted(t.follow.dep.ids)} on engines {eids}")
            why = f"waiting for a dependency: no engine accepted it ({'; '.join(p for p in parts if p)})"
            if t.rest is not None and t.rest_until is not None:
                why += f"; it goes round them again shortly, {t.retries} retries left"
            elif t.rest is not None:
                why += "; no retries left: a new engine, a property change or spin() may still take it"
            return why
        return None

    def _refusals(self, t: _Task) -> str:
        """The live engines that refused ``t``, for messages: ``declined by 0; unmet on 1, 2``."""
        parts = []
        for word, serials in (("declined by", t.declined), ("unmet on", t.unmet)):
            eids = sorted(self._live[s].eid for s in serials or () if s in self._live)
            if eids:
                parts.append(f"{word} {', '.join(map(str, eids))}")
        return "; ".join(parts)


def _validate_chain(spec: TaskSpec) -> None:
    """Reject recovery chains that loop and nonsense retries or timeouts."""
    seen = set()
    s: Optional[TaskSpec] = spec
    while s is not None:
        if id(s) in seen:
            raise ValueError(f"the recovery chain of task {spec.taskid} loops")
        seen.add(id(s))
        if not isinstance(s.retries, int) or s.retries < 0:
            raise ValueError(f"retries must be a non-negative int, not {s.retries!r}")
        if s.timeout is not None and s.timeout < 0:
            raise ValueError(f"timeout must be positive or None, not {s.timeout!r}")
        s = s.recovery
