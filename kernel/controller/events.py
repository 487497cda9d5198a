"""The scheduler's vocabulary: the events it is told, the actions it answers, and their types.

As in dask's ``worker_state_machine``, each event is a small class and the
scheduler has one way in, ``Scheduler.handle(event)``, which returns the
actions the controller must perform, in order. Only the events whose
handling depends on the time carry ``now``. States, outcomes and reasons are
string enums: compared by identity inside, and plain strings (the legacy
words) wherever they reach a client or a log.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Optional, Union

from kernel.dependency import Dependency

__all__ = [
    "Outcome", "State", "Reason", "TaskSpec",
    "Event", "EngineAdded", "EngineRemoved", "TaskSubmitted", "TaskDone", "PropertiesChanged",
    "AbortTask", "Tick", "Spin", "TaskRestored", "TaskForgotten",
    "Dispatch", "Finish", "Action",
]


class Outcome(StrEnum):
    """What an engine reported about one attempt of a task."""

    SUCCESS = "success"
    FAILURE = "failure"  # it raised: tried again elsewhere while retries last
    DECLINED = "declined"  # its depend() said no: not offered there until the engine's properties change
    UNMET = "unmet"  # it raised UnmetDependency: not offered there again this round


class State(StrEnum):
    """A task's state as ``queue_status`` and ``task_status`` name it (0.10's words)."""

    SCHEDULED = "scheduled"  # not dispatched (waiting for prerequisites, an engine or a slot)
    PENDING = "pending"  # dispatched to an engine that has not reported
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Reason(StrEnum):
    """Why the scheduler failed a task: the name of the error the client sees."""

    ENGINE_DIED = "EngineDied"
    POISON_TASK = "PoisonTask"
    TASK_ABORTED = "TaskAborted"
    IMPOSSIBLE_DEPENDENCY = "ImpossibleDependency"
    UNMET_DEPENDENCY = "UnmetDependency"
    DEPENDENCY_TIMEOUT = "DependencyTimeout"


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


# -- events ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Event:
    """Something the scheduler is told; ``Scheduler.handle`` keeps the last ones in ``history``."""


@dataclass(slots=True)
class EngineAdded(Event):
    eid: int


@dataclass(slots=True)
class EngineRemoved(Event):
    """The engine is gone. Tasks in ``unstarted`` were sent to it but had not begun (queued
    behind the running one): they go back to the queue at no cost to their retries."""

    eid: int
    now: float
    reason: str = ""
    unstarted: frozenset = frozenset()


@dataclass(slots=True)
class TaskSubmitted(Event):
    spec: TaskSpec
    now: float


@dataclass(slots=True)
class TaskDone(Event):
    """Engine ``eid`` reports on ``taskid``; a late report (the engine was given up on) is ignored."""

    taskid: int
    eid: int
    outcome: Outcome
    now: float


@dataclass(slots=True)
class PropertiesChanged(Event):
    """The engine may now accept tasks its depend() declined, or that were unmet there."""

    eid: int


@dataclass(slots=True)
class AbortTask(Event):
    """Fail the task with TaskAborted; a running one keeps its slot until its engine reports."""

    taskid: int


@dataclass(slots=True)
class Tick(Event):
    """Time passed: fail waiting tasks whose timeout is over, wake tasks whose rest is over."""

    now: float


@dataclass(slots=True)
class Spin(Event):
    """A tick, then every task that every engine refused goes round them again at once."""

    now: float


@dataclass(slots=True)
class TaskRestored(Event):
    """A task that finished earlier (before a restart, or forgotten): later tasks may depend
    on it, though not follow it. ``counted=False`` if the counts have it already."""

    taskid: int
    succeeded: bool
    counted: bool = True


@dataclass(slots=True)
class TaskForgotten(Event):
    """Drop a finished task's record (it stays in the counts): keeps memory bounded."""

    taskid: int


# -- actions --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Dispatch:
    """Send ``spec``'s payload (the submitted spec or one of its recovery specs) to engine ``eid``."""

    taskid: int
    eid: int
    spec: TaskSpec


@dataclass(slots=True)
class Finish:
    """The final outcome of a task; ``error=None`` means the engine's reply is the result."""

    taskid: int
    succeeded: bool
    error: Optional[Reason] = None
    message: str = ""


Action = Union[Dispatch, Finish]
