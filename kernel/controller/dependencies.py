"""Graph dependencies between tasks: when a waiting task may run, and when it never can.

A task may name earlier tasks it must run ``after`` (a constraint on time) or
``follow`` (a constraint on place: run where they ran). Both are a
:class:`kernel.dependency.Dependency`, the type the client builds. The
scheduler keeps one :class:`Watch` per dependency of a waiting task and tells
it each prerequisite's outcome as it finishes, so a task that waits for
thousands of others costs O(1) per finished prerequisite instead of a rescan
of all of them.
"""

from __future__ import annotations

from enum import Enum
from typing import Callable, Optional

from kernel.dependency import Dependency

__all__ = ["Dependency", "Watch", "Verdict", "WAITING", "MET", "IMPOSSIBLE"]


class Verdict(Enum):
    """How a dependency stands, judging by time only."""

    WAITING = "waiting"  # prerequisites still to finish
    MET = "met"
    IMPOSSIBLE = "impossible"  # can never be met


WAITING, MET, IMPOSSIBLE = Verdict


class Watch:
    """How far one dependency of one task has got.

    ``where`` holds the engines (by incarnation number) on which counted
    prerequisites ran, which is what ``follow`` needs.
    """

    __slots__ = ("dep", "left", "counted", "first_dead", "where", "nowhere")

    def __init__(self, dep: Dependency):
        self.dep = dep
        self.left = len(dep.ids)  # prerequisites not finished yet
        self.counted = 0  # finished in a way the flags count
        self.first_dead: Optional[int] = None  # first one that finished the wrong way
        self.where: set[int] = set()
        self.nowhere: Optional[int] = None  # a counted one that never ran on an engine

    def note(self, taskid: int, succeeded: bool, place: Optional[int]) -> None:
        """Prerequisite ``taskid`` finished; ``place`` is the engine it last ran on."""
        self.left -= 1
        if self.dep.counts(succeeded):
            self.counted += 1
            if place is None:
                if self.nowhere is None:
                    self.nowhere = taskid
            else:
                self.where.add(place)
        elif self.first_dead is None:
            self.first_dead = taskid

    def verdict(self) -> Verdict:
        if self.dep.all:
            if self.first_dead is not None:
                return IMPOSSIBLE
            return MET if self.left == 0 else WAITING
        if self.counted:
            return MET
        return IMPOSSIBLE if self.left == 0 else WAITING

    def why_impossible(self, kind: str) -> str:
        ids = sorted(self.dep.ids)
        wanted = self.dep.wanted()
        if self.dep.all:
            other = "succeeded" if wanted == "failed" else "failed"
            return (f"it runs {kind} tasks {ids} once all have {wanted}, "
                    f"but task {self.first_dead} {other}")
        return f"it runs {kind} any of tasks {ids} that {wanted}, but none did"

    def place_problem(self, alive: Callable[[int], bool],
                      eid_of: Callable[[int], object]) -> Optional[str]:
        """Why no engine can ever satisfy this as a ``follow``, or None."""
        ids = sorted(self.dep.ids)
        if self.dep.all:
            if self.nowhere is not None:
                return f"it must follow task {self.nowhere}, which never ran on an engine"
            if len(self.where) > 1:
                engines = ", ".join(str(eid_of(p)) for p in sorted(self.where))
                return f"it must follow tasks {ids}, which ran on different engines ({engines})"
            if self.where:
                (place,) = self.where
                if not alive(place):
                    return f"it must follow tasks {ids} on engine {eid_of(place)}, which is gone"
        elif self.left == 0 and not any(alive(p) for p in self.where):
            return f"it must follow any of tasks {ids}, but no engine they ran on is still alive"
        return None
