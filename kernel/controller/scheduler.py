"""The task scheduler of the controller, as a pure state machine.

Events go in through ``Scheduler.handle`` (an engine arrives or dies, a task
is submitted or finishes, time passes: the classes of ``events.py``) and
each returns the actions the controller must perform, in order:
:class:`Dispatch` a task to an engine, or :class:`Finish` it. There is no
I/O, clock, thread or pickle here, so every decision can be replayed in a
test (the last events are kept in ``history``); payloads stay with the
controller, which finds them again from ``Dispatch.spec`` (the submitted
spec or one of its recovery specs). ``validate_state()`` checks every
invariant below; the tests call it after every event.

Where a live task is. Each is in exactly one :class:`Place`: waiting for
prerequisites (DEPS), queued for any engine (READY), queued for some
engines only (RESTRICTED), or RUNNING on one. Engines with a free slot take
restricted tasks first and never idle while a task they may run waits.

Cost. A task with no constraints sits in a plain deque, and the engines with
a free slot sit in a pool arranged for the scheme (``schemes.py``), so
submitting, dispatching and finishing it costs O(log engines) however long
the queue is. A task with a ``depend()`` counts as unconstrained until an
engine declines it. A restricted task is placed by the same scheme among the
free engines it may use, in time that grows with the engines it follows or
avoids, not with all engines; waiting, it is found by an engine that frees a
slot in that engine's lane or the common one (``restricted.py``). Tasks
waiting for other tasks are woken by the prerequisite that finishes.

Timeouts fail a task only while it *cannot* run (prerequisites unfinished, no
engine alive, or every live engine refused it): a task merely queued behind
busy engines is never timed out.

Rounds. A task that raises UnmetDependency on an engine is not offered to it
again until every live engine has refused it (declined or unmet, at least one
unmet). That ends a round and costs a retry: the task rests for
``round_delay`` seconds (engine namespaces may change meanwhile, unseen) and
then goes round them all again; a property change on an engine that refused
it, or ``Spin``, ends the rest at once, and a new engine may take it at any
time. With no retries left the recovery spec takes over, or a task with a
timeout waits it out, or it fails with UnmetDependency naming the engines.
Declines alone never end a round: property changes, which the controller
sees, decide those.

Engines are told apart by an incarnation number (``serial``) as well as
their id: an id may be reused by a new engine, which must not inherit its
predecessor's ``follow`` tasks or refusals.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from enum import Enum
from typing import Iterator, Optional

from kernel.errors import NoSuchTask, TaskAlreadyFinished
from kernel.values import is_int

from .dependencies import IMPOSSIBLE, WAITING, Dependency, Watch
from .events import (
    AbortTask,
    Action,
    Dispatch,
    EngineAdded,
    EngineRemoved,
    Event,
    Finish,
    Outcome,
    PropertiesChanged,
    Reason,
    Spin,
    State,
    TaskDone,
    TaskForgotten,
    TaskRestored,
    TaskSpec,
    TaskSubmitted,
    Tick,
)
from .restricted import RestrictedQueue
from .schemes import SCHEMES, Pool

__all__ = ["Scheduler", "InvalidState", "TaskSpec", "Dependency", "Dispatch", "Finish", "SCHEMES"]

_NONE: frozenset = frozenset()


class InvalidState(AssertionError):
    """``validate_state`` found the scheduler's books broken: a bug in the scheduler."""


class Place(Enum):
    """Where a live task is (see the module docstring)."""

    DEPS = "waiting for prerequisites"  # in self._dependents of each unfinished one
    READY = "ready"  # in self._ready
    RESTRICTED = "restricted"  # in self._restricted
    RUNNING = "running"  # in its engine's running set


DEPS, READY, RESTRICTED, RUNNING = Place
SUCCESS, FAILURE, DECLINED = Outcome.SUCCESS, Outcome.FAILURE, Outcome.DECLINED  # globals: read faster


class _Engine:
    __slots__ = ("eid", "serial", "running", "last_used", "warmth", "cursor", "declined_by",
                 "heap_key", "bucket")

    def __init__(self, eid: int, serial: int):
        self.eid = eid
        self.serial = serial  # incarnation number, never reused
        self.running: set[int] = set()  # outstanding taskids, aborted ones included
        self.last_used = serial - (1 << 62)  # never used: before all used ones, by arrival
        self.warmth = -(1 << 62) - serial  # the last use, or less: never used (by arrival), below them failed
        self.cursor = 0  # restricted tasks up to this pseq do not fit this engine
        self.declined_by: set[int] = set()  # tasks whose depend() said no here
        self.heap_key: Optional[tuple] = None  # the pool's bookkeeping
        self.bucket: Optional[int] = None


class _Task:
    __slots__ = ("taskid", "spec", "gen", "where", "engine", "pseq", "lanes", "retries", "deaths",
                 "killed", "declined", "unmet", "failed_on", "after", "follow", "deadline",
                 "rounds", "rest", "rest_until")

    def __init__(self, taskid: int, spec: TaskSpec):
        self.taskid = taskid
        self.gen = 0  # bumped when a recovery spec takes over, to spot stale entries
        self.where: Optional[Place] = None  # None only in the middle of an event
        self.engine: Optional[_Engine] = None
        self.pseq = 0  # its sequence number among restricted tasks
        self.lanes: tuple = ()  # the lanes of the restricted queue it waits in
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


def _refused(t: _Task) -> frozenset | set:
    """The engines (serials) ``t`` may not go to: it was declined or unmet there."""
    if t.declined and t.unmet:
        return t.declined | t.unmet
    return t.declined or t.unmet or _NONE


class Scheduler:
    """Assigns tasks to engines; see the module docstring.

    ``hwm`` is the most tasks outstanding on one engine (0: no limit);
    ``poison_after`` is how many engines may die running one task before it
    is failed as poison (0 or None: never); ``round_delay`` is how long a task
    every engine refused rests before it goes round them again; ``history``
    is how many of the last events are kept.
    """

    def __init__(self, scheme: str = "leastload", *, hwm: int = 2,
                 poison_after: Optional[int] = 3, rng: Optional[random.Random] = None,
                 round_delay: float = 1.0, history: int = 100):
        if hwm < 0:
            raise ValueError(f"hwm must be 0 (no limit) or positive, not {hwm!r}")
        if not isinstance(round_delay, (int, float)) or not round_delay >= 0:
            raise ValueError(f"round_delay must be a number of seconds, 0 or more, not {round_delay!r}")
        self._rng = rng if rng is not None else random.Random()
        self._pool = Pool(scheme, self._rng)
        self.scheme = scheme
        self.round_delay = round_delay
        self.hwm = hwm
        self.poison_after = poison_after
        self.history: deque[Event] = deque(maxlen=history)
        self._handlers = {
            EngineAdded: self._engine_added, EngineRemoved: self._engine_removed,
            TaskSubmitted: self._submitted, TaskDone: self._task_done,
            PropertiesChanged: self._properties_changed, AbortTask: self._abort,
            Tick: self._tick, Spin: self._spin, TaskRestored: self._restored,
            TaskForgotten: self._forgotten,
        }
        self._engines: dict[int, _Engine] = {}
        self._live: dict[int, _Engine] = {}  # serial -> engine
        self._eid_of: dict[int, int] = {}  # serial -> eid, for messages about dead engines
        self._serials = 0
        self._uses = 0  # dispatch counter: the clock of least-recently-used
        self._chills = 0  # failures counted: the most recent makes its engine the coldest
        self._tasks: dict[int, _Task] = {}  # live: not finished
        self._done: dict[int, tuple[bool, Optional[int]]] = {}  # -> (succeeded, engine serial)
        self._zombies: dict[int, _Engine] = {}  # aborted while running; slot still held
        self._ready: deque[_Task] = deque()  # READY tasks, and finished ones to skip
        self._restricted = RestrictedQueue()
        self._dependents: dict[int, list] = {}  # prerequisite -> [(task, watch, gen)]
        self._followers: dict[int, _Task] = {}  # live tasks with a follow
        self._deadlines: list[tuple] = []  # heap of (deadline, taskid, gen)
        self._overdue: dict[int, _Task] = {}  # past deadline, not dispatched yet
        self._resting: dict[int, _Task] = {}  # refused by every engine, between rounds
        self._wakeups: list[tuple] = []  # heap of (rest_until, rest, taskid); stale ones skipped
        self._rests = 0
        self._fresh: list[_Engine] = []  # engines that just got a free slot
        self._finished: deque[int] = deque()  # finished tasks whose dependents must hear of it
        self._n_pending = self._n_succeeded = self._n_failed = 0

    def handle(self, event: Event) -> list[Action]:
        """Take one event; return the actions it calls for, in order."""
        try:
            handler = self._handlers[type(event)]
        except KeyError:
            raise TypeError(f"the scheduler takes the events of kernel.controller.events, not {event!r}") from None
        self.history.append(event)
        return handler(event)

    # ----------------------------------------------------------------- events

    def _engine_added(self, ev: EngineAdded) -> list[Action]:
        if ev.eid in self._engines:
            raise ValueError(f"engine {ev.eid} is already registered")
        self._serials += 1
        e = _Engine(ev.eid, self._serials)
        self._engines[ev.eid] = self._live[e.serial] = e
        self._eid_of[e.serial] = ev.eid
        self._pool.update(e)
        self._fresh.append(e)
        return self._settle([])

    def _engine_removed(self, ev: EngineRemoved) -> list[Action]:
        """Its tasks are retried elsewhere or fail. Unknown ids are ignored."""
        e = self._engines.pop(ev.eid, None)
        if e is None:
            return []
        now = ev.now
        del self._live[e.serial]
        self._pool.discard(e)
        self._restricted.drop_engine(e.serial)
        actions: list[Action] = []
        for taskid in sorted(e.running):
            if self._zombies.pop(taskid, None) is not None:
                continue
            t = self._tasks[taskid]
            self._unplace(t)
            t.engine = None
            if taskid in ev.unstarted:
                self._requeue(t, now, actions)
            else:
                self._engine_died(t, e, ev.reason, now, actions)
        e.running.clear()
        # Tasks that follow this engine, or would rather avoid the survivors,
        # may now be impossible or less picky; the survivors may all have refused some.
        affected = dict(self._followers)
        for t in self._restricted.anywhere_tasks():
            if t.failed_on or t.unmet:
                affected[t.taskid] = t
        for t in affected.values():
            if t.where is DEPS or t.where is RESTRICTED:
                self._unplace(t)
                self._check(t, actions)
                self._end_round_if_refused(t, now, actions)
        return self._settle(actions)

    def _restored(self, ev: TaskRestored) -> list[Action]:
        if ev.taskid in self._tasks or ev.taskid in self._done:
            raise ValueError(f"task {ev.taskid} is already known")
        self._done[ev.taskid] = (ev.succeeded, None)
        if ev.counted and ev.succeeded:
            self._n_succeeded += 1
        elif ev.counted:
            self._n_failed += 1
        return []

    def _forgotten(self, ev: TaskForgotten) -> list[Action]:
        self._done.pop(ev.taskid, None)
        return []

    def _submitted(self, ev: TaskSubmitted) -> list[Action]:
        spec = ev.spec
        taskid = spec.taskid
        if not is_int(taskid):
            raise TypeError(f"an integer task id expected: {taskid!r}")
        if taskid in self._tasks or taskid in self._done:
            raise ValueError(f"task {taskid} was already submitted")
        _validate_chain(spec)
        t = self._tasks[taskid] = _Task(taskid, spec)
        actions: list[Action] = []
        self._start(t, ev.now, actions)
        return self._settle(actions)

    def _task_done(self, ev: TaskDone) -> list[Action]:
        taskid, outcome, now = ev.taskid, ev.outcome, ev.now
        if type(outcome) is not Outcome:
            raise ValueError(f"unknown outcome {outcome!r}; use an Outcome: {', '.join(Outcome)}")
        e = self._engines.get(ev.eid)
        if e is None or taskid not in e.running:
            if taskid not in self._tasks and taskid not in self._done:
                raise KeyError(f"No task #{taskid}")
            return []
        actions: list[Action] = []
        if outcome is FAILURE:  # last among equals until used again: a failing engine draws no crowd
            self._chills += 1
            e.warmth = -(1 << 63) - self._chills
        self._release(e, taskid)
        if self._zombies.pop(taskid, None) is not None:
            return self._settle(actions)  # aborted: only the slot mattered
        t = self._tasks[taskid]
        self._unplace(t)
        t.engine = None
        if outcome is SUCCESS:
            self._finish(t, True, None, "", actions, e.serial)
        elif outcome is FAILURE:
            if t.retries > 0:
                t.retries -= 1
                t.failed_on = (t.failed_on or set()) | {e.serial}
                self._requeue(t, now, actions)
            elif t.spec.recovery is not None:
                self._recover(t, now, actions)
            else:
                self._finish(t, False, None, "", actions, e.serial)
        else:
            if outcome is DECLINED:
                t.declined = (t.declined or set()) | {e.serial}
                e.declined_by.add(taskid)
            else:
                t.unmet = (t.unmet or set()) | {e.serial}
            self._requeue(t, now, actions)
            self._end_round_if_refused(t, now, actions)
        return self._settle(actions)

    def _properties_changed(self, ev: PropertiesChanged) -> list[Action]:
        e = self._engines[ev.eid]
        actions: list[Action] = []
        for taskid in sorted(e.declined_by):
            t = self._tasks.get(taskid)
            if t is not None and t.declined:
                t.declined.discard(e.serial)
                if t.where is RESTRICTED:
                    self._unplace(t)
                    self._check(t, actions)
        e.declined_by.clear()
        for t in list(self._resting.values()):
            if t.rest is not None and t.unmet and e.serial in t.unmet:
                self._wake(t, actions)
        return self._settle(actions)

    def _spin(self, ev: Spin) -> list[Action]:
        actions = self._time_passed(ev.now)
        for t in list(self._resting.values()):
            if t.rest is not None:
                self._wake(t, actions)
        return self._settle(actions)

    def _abort(self, ev: AbortTask) -> list[Action]:
        taskid = ev.taskid
        if not is_int(taskid):
            raise TypeError(f"an integer task id expected: {taskid!r}")
        if taskid in self._zombies:
            raise TaskAlreadyFinished("Task Already Aborted")
        t = self._tasks.get(taskid)
        if t is None:
            if taskid in self._done:
                raise TaskAlreadyFinished("Task Already Completed")
            raise NoSuchTask(f"No task #{taskid}")
        place = None
        if t.where is RUNNING:
            self._zombies[taskid] = t.engine
            place = t.engine.serial
        actions: list[Action] = []
        self._finish(t, False, Reason.TASK_ABORTED, f"task {taskid} was aborted", actions, place)
        return self._settle(actions)

    def _tick(self, ev: Tick) -> list[Action]:
        return self._settle(self._time_passed(ev.now))

    def _time_passed(self, now: float) -> list[Action]:
        """Fail waiting tasks whose timeout has passed and that cannot run; end rests that are over."""
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            _, taskid, gen = heapq.heappop(heap)
            t = self._tasks.get(taskid)
            if t is not None and t.gen == gen:
                self._overdue[taskid] = t
        actions: list[Action] = []
        for taskid, t in list(self._overdue.items()):
            if t.where is RUNNING:
                del self._overdue[taskid]  # _requeue puts it back if it returns late
                continue
            why = self._blocker(t)
            if why:  # otherwise it can run and only waits for a free slot
                self._finish(t, False, Reason.DEPENDENCY_TIMEOUT,
                             f"task {taskid} timed out after {t.spec.timeout:g} s {why}", actions)
        wakeups = self._wakeups
        while wakeups and wakeups[0][0] <= now:
            _, rest, taskid = heapq.heappop(wakeups)
            t = self._resting.get(taskid)
            if t is not None and t.rest == rest:
                self._wake(t, actions)
        return actions

    # ---------------------------------------------------------------- queries

    def knows(self, taskid: int) -> bool:
        return taskid in self._tasks or taskid in self._done

    def status(self, verbose: bool = False) -> dict:
        """Counts (or sorted id lists) of scheduled, pending, succeeded and failed tasks."""
        if not verbose:
            return {State.SCHEDULED: len(self._tasks) - self._n_pending, State.PENDING: self._n_pending,
                    State.SUCCEEDED: self._n_succeeded, State.FAILED: self._n_failed}
        out: dict[str, list[int]] = {state: [] for state in State}
        for taskid, t in self._tasks.items():
            out[State.PENDING if t.where is RUNNING else State.SCHEDULED].append(taskid)
        for taskid, (ok, _) in self._done.items():
            out[State.SUCCEEDED if ok else State.FAILED].append(taskid)
        return {k: sorted(v) for k, v in out.items()}

    def state(self, taskid: int) -> State:
        t = self._tasks.get(taskid)
        if t is not None:
            return State.PENDING if t.where is RUNNING else State.SCHEDULED
        if taskid in self._done:
            return State.SUCCEEDED if self._done[taskid][0] else State.FAILED
        raise KeyError(f"No task #{taskid}")

    def waiting_reason(self, taskid: int) -> Optional[str]:
        """Why a scheduled task cannot run even when engines free their slots; None if it waits
        for nothing else (or is running, or finished)."""
        t = self._tasks.get(taskid)
        if t is None:
            if taskid in self._done:
                return None
            raise KeyError(f"No task #{taskid}")
        return None if t.where is RUNNING else self._blocker(t)

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
                return self._finish(t, False, Reason.IMPOSSIBLE_DEPENDENCY, msg, actions)
            if t.taskid in dep.ids:
                msg = f"task {t.taskid} can never run: it depends on itself"
                return self._finish(t, False, Reason.IMPOSSIBLE_DEPENDENCY, msg, actions)
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
            return self._finish(t, False, Reason.IMPOSSIBLE_DEPENDENCY, msg, actions)
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
                    return self._finish(t, False, Reason.IMPOSSIBLE_DEPENDENCY, msg, actions)
                waiting = waiting or verdict is WAITING
        if t.follow is not None:
            problem = t.follow.place_problem(self._live.__contains__, self._eid_of.get)
            if problem:
                msg = f"task {t.taskid} can never run: {problem}"
                return self._finish(t, False, Reason.IMPOSSIBLE_DEPENDENCY, msg, actions)
            # follow-any whose counted prerequisites all ran on dead engines: wait for the rest
            waiting = waiting or not any(p in self._live for p in t.follow.where)
        if waiting:
            t.where = DEPS
        else:
            self._enqueue(t, actions)

    def _enqueue(self, t: _Task, actions: list) -> None:
        """Queue a task whose prerequisites are met: plain deque, a free engine, or the restricted queue."""
        if t.follow is None and not t.declined and not t.unmet and not t.failed_on:
            t.where = READY
            self._ready.append(t)
            return
        e = self._free_fit(t)
        if e is not None:
            return self._dispatch(t, e, actions)
        t.where = RESTRICTED
        self._restricted.add(t, None if t.follow is None else [s for s in t.follow.where if s in self._live])

    def _free_fit(self, t: _Task) -> Optional[_Engine]:
        """The scheme's pick among the free engines ``t`` may go to (see ``_fits``), or None."""
        refused, failed, pool = _refused(t), t.failed_on or _NONE, self._pool
        if t.follow is not None:
            free = [e for s in t.follow.where if (e := pool.members.get(s)) is not None and s not in refused]
            best = pool.pick_among([e for e in free if e.serial not in failed])
            if best is None and free and failed and not self._fits_somewhere(t, failed):
                best = pool.pick_among(free)
            return best
        if not failed:
            return pool.pick_avoiding(refused)
        best = pool.pick_avoiding(refused | failed)
        if best is None and not self._fits_somewhere(t, failed):
            best = pool.pick_avoiding(refused)
        return best

    def _fits(self, t: _Task, e: _Engine) -> bool:
        """May ``t`` go to ``e``? An engine that failed it only if no other live engine could take it."""
        s = e.serial
        if (t.declined and s in t.declined) or (t.unmet and s in t.unmet):
            return False
        if t.follow is not None and s not in t.follow.where:
            return False
        if t.failed_on and s in t.failed_on:
            return not self._fits_somewhere(t, t.failed_on)
        return True

    def _fits_somewhere(self, t: _Task, also_avoid=_NONE) -> bool:
        """Whether some live engine, not in ``also_avoid``, neither refused ``t`` nor is barred by
        its follow: O(engines refused or followed), not O(engines)."""
        avoid = _refused(t) | also_avoid if also_avoid else _refused(t)
        live = self._live
        if t.follow is not None:
            return any(s in live and s not in avoid for s in t.follow.where)
        return len(live) > sum(1 for s in avoid if s in live)

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

    def _engine_died(self, t: _Task, e: _Engine, reason: str, now: float, actions: list) -> None:
        t.deaths += 1
        t.killed = (t.killed or []) + [e.eid]
        if self.poison_after and t.deaths >= self.poison_after:
            engines = ", ".join(map(str, t.killed))
            msg = (f"task {t.taskid} killed {t.deaths} engines ({engines}) and was not retried; "
                   f"check the task for crashes (last engine: {reason or 'no reason given'})")
            self._finish(t, False, Reason.POISON_TASK, msg, actions, e.serial)
        elif t.retries > 0:
            t.retries -= 1
            self._requeue(t, now, actions)
        elif t.spec.recovery is not None:
            self._recover(t, now, actions)
        else:
            msg = f"engine {e.eid} died while running task {t.taskid}" + (f": {reason}" if reason else "")
            self._finish(t, False, Reason.ENGINE_DIED, msg, actions, e.serial)

    def _end_round_if_refused(self, t: _Task, now: float, actions: list) -> None:
        """If every live engine has now refused ``t`` (one at least by UnmetDependency), the
        round is over: a retry buys the next one after a rest; without one the recovery spec
        takes over, a task with a timeout waits it out, and any other fails."""
        if (t.where is not RESTRICTED or t.rest is not None or not t.unmet
                or not any(s in self._live for s in t.unmet) or self._fits_somewhere(t)):
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
            self._finish(t, False, Reason.UNMET_DEPENDENCY, msg, actions)

    def _rest(self, t: _Task, until: Optional[float]) -> None:
        """Park ``t`` (restricted, where only a new engine fits it) until ``until`` or an event."""
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

    def _finish(self, t: _Task, ok: bool, error: Optional[Reason], message: str,
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
                if t.where is DEPS or (t.where is RESTRICTED and w is t.follow):
                    self._unplace(t)
                    self._check(t, actions)
        fresh, self._fresh = self._fresh, []
        for e in fresh:
            if self._live.get(e.serial) is e:
                self._feed(e, actions)
        ready, pool, free = self._ready, self._pool, self._pool.members.items
        while ready and free:
            t = ready.popleft()
            if t.where is READY:
                self._dispatch(t, pool.pick(), actions)
        return actions

    def _feed(self, e: _Engine, actions: list) -> None:
        """Give e's free slots to the oldest restricted tasks that fit it."""
        if not self._restricted.count or e.cursor >= self._restricted.seq:
            return  # none waits, or e has looked at every one
        waiting = self._restricted.after(e)
        while self._has_slot(e):
            t = next(waiting, None)
            if t is None:
                return
            if self._fits(t, e):
                self._dispatch(t, e, actions)

    def _dispatch(self, t: _Task, e: _Engine, actions: list) -> None:
        self._end_rest(t)
        self._unplace(t)
        t.where, t.engine = RUNNING, e
        self._n_pending += 1
        e.running.add(t.taskid)
        self._uses += 1
        e.last_used = e.warmth = self._uses
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
        if t.where is RESTRICTED:
            self._restricted.remove(t)
        elif t.where is RUNNING:
            self._n_pending -= 1
        t.where = None

    def _has_slot(self, e: _Engine) -> bool:
        return not self.hwm or len(e.running) < self.hwm

    def _blocker(self, t: _Task) -> Optional[str]:
        """Why a scheduled task cannot run even with free slots, or None if it can."""
        if t.where is DEPS:
            ids = sorted({i for w in (t.after, t.follow) if w for i in w.dep.ids} - self._done.keys())
            return f"waiting for tasks {ids}"
        if not self._live:
            return "waiting for an engine"
        if t.where is RESTRICTED and not self._fits_somewhere(t):
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

    # -------------------------------------------------------------- invariants

    def validate_state(self) -> None:
        """Check every invariant of the books; raise InvalidState naming each broken one.

        For tests: it looks at everything, so it costs O(tasks x engines).
        """
        problems = list(self._problems())
        if problems:
            recent = ", ".join(map(repr, list(self.history)[-5:]))
            raise InvalidState("; ".join(problems) + f" (after {recent})")

    def _problems(self) -> Iterator[str]:
        yield from self._engine_problems()
        yield from self._task_problems()
        free = [e for e in self._live.values() if self._has_slot(e)]
        yield from self._pool.problems(free)
        restricted = {taskid: t for taskid, t in self._tasks.items() if t.where is RESTRICTED}
        yield from self._restricted.problems(restricted, self._live)
        ready = [t for t in self._tasks.values() if t.where is READY]
        if ready and free:
            yield f"task {ready[0].taskid} is ready while engine {free[0].eid} has a free slot"
        for t in restricted.values():
            for e in free:
                if self._fits(t, e):
                    yield f"restricted task {t.taskid} waits while engine {e.eid}, which it fits, has a free slot"
        if self._finished or self._fresh:
            yield "news of finished tasks or freed engines was left unsettled"

    def _engine_problems(self) -> Iterator[str]:
        if {e.serial for e in self._engines.values()} != self._live.keys():
            yield "the engines by id and by incarnation differ"
        for eid, e in self._engines.items():
            if e.eid != eid or self._live.get(e.serial) is not e or self._eid_of.get(e.serial) != eid:
                yield f"engine {eid} is filed under another id or incarnation"
            if self.hwm and len(e.running) > self.hwm:
                yield f"engine {eid} runs {len(e.running)} tasks, above hwm {self.hwm}"
            for taskid in e.running:
                t = self._tasks.get(taskid)
                if self._zombies.get(taskid) is not e and (t is None or t.where is not RUNNING or t.engine is not e):
                    yield f"engine {eid} holds task {taskid}, which is not running there"
        for taskid, e in self._zombies.items():
            if taskid in self._tasks or taskid not in e.running or self._live.get(e.serial) is not e:
                yield f"aborted task {taskid} holds no slot on a live engine"

    def _task_problems(self) -> Iterator[str]:
        if self._tasks.keys() & self._done.keys():
            yield f"tasks {sorted(self._tasks.keys() & self._done.keys())} are both live and finished"
        places = {place: 0 for place in Place}
        in_ready: dict[int, int] = {}
        for t in self._ready:
            if self._tasks.get(t.taskid) is t:
                in_ready[t.taskid] = in_ready.get(t.taskid, 0) + 1
        armed = {(taskid, gen) for _, taskid, gen in self._deadlines}
        heap_wakeups = {(rest, taskid) for _, rest, taskid in self._wakeups}
        for taskid, t in self._tasks.items():
            if t.where is None:
                yield f"task {taskid} is nowhere"
                continue
            places[t.where] += 1
            if t.where is RUNNING and (t.engine is None or taskid not in t.engine.running
                                       or self._live.get(t.engine.serial) is not t.engine):
                yield f"task {taskid} runs on an engine that does not hold it"
            if (in_ready.get(taskid, 0) == 1) != (t.where is READY):
                yield f"task {taskid} is {t.where.value} but in the ready queue {in_ready.get(taskid, 0)} times"
            if t.where is READY and (t.follow or t.declined or t.unmet or t.failed_on):
                yield f"task {taskid} is restricted but in the ready queue"
            if t.where is DEPS and not any(
                    any(d[0] is t and d[2] == t.gen for d in self._dependents.get(pid, ()))
                    for w in (t.after, t.follow) if w for pid in w.dep.ids if pid in self._tasks):
                yield f"task {taskid} waits for prerequisites, but for none that will tell it"
            if (t.follow is not None) != (self._followers.get(taskid) is t):
                yield f"task {taskid} is missing from the followers, or there without a follow"
            if (t.rest is not None) != (self._resting.get(taskid) is t):
                yield f"task {taskid} rests, or is listed as resting, but not both"
            if t.rest is not None and (t.where is not RESTRICTED or (
                    t.rest_until is not None and (t.rest, taskid) not in heap_wakeups)):
                yield f"resting task {taskid} is not restricted or has no wake-up"
            for serial in t.declined or ():
                e = self._live.get(serial)
                if e is not None and taskid not in e.declined_by:
                    yield f"task {taskid} was declined by engine {e.eid}, which does not know it"
            if not 0 <= t.retries <= t.spec.retries:
                yield f"task {taskid} has {t.retries} retries of {t.spec.retries}"
            if t.deadline is None and t.rounds > t.spec.retries - t.retries:
                yield f"task {taskid} went {t.rounds} rounds on {t.spec.retries - t.retries} retries"
            if (t.deadline is not None and t.where is not RUNNING and (taskid, t.gen) not in armed
                    and self._overdue.get(taskid) is not t):
                yield f"task {taskid}'s deadline is neither pending nor overdue"
        if places[RUNNING] != self._n_pending:
            yield f"{self._n_pending} tasks counted pending, {places[RUNNING]} running"
        for taskid, t in self._overdue.items():
            if self._tasks.get(taskid) is not t:
                yield f"overdue task {taskid} is not live"
        if not self._dependents.keys() <= self._tasks.keys():
            yield "finished tasks still have dependents waiting to hear of them"
        succeeded = sum(1 for ok, _ in self._done.values() if ok)
        if succeeded > self._n_succeeded or len(self._done) - succeeded > self._n_failed:
            yield "fewer tasks counted finished than are recorded"


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
