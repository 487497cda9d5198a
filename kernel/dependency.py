"""A task's dependency on earlier tasks: one type for the client that states it and the controller that tracks it.

The client sends it as ``messages.DEPENDENCY`` (``as_wire``); the controller
rebuilds the same type from that (``from_wire``) and its scheduler asks it
which outcomes count (``counts``).
"""

from kernel.values import is_int


class Dependency(set):
    """A set of task ids with the 0.11 switches.

    ``all``: every prerequisite must count (True, the default) or any one is
    enough (False). ``success`` / ``failure``: which outcomes of a prerequisite
    count (by default successes only). ``Dependency(ids, success=False,
    failure=True)`` runs a clean-up task only when something failed; one
    that counts neither could never be met (a task refuses it).

    Two Dependencies are equal when their ids and switches are; compared with
    a plain set, only the ids count.
    """

    def __init__(self, ids=(), all=True, success=True, failure=False):
        ids = [ids] if is_int(ids) else list(ids)
        for i in ids:
            if not is_int(i):
                raise TypeError(f"a Dependency holds task ids (ints), not {i!r}")
            if i < 0:
                raise ValueError(f"a Dependency holds task ids, which are 0 or more, not {i}")
        super().__init__(ids)
        self.all = bool(all)
        self.success = bool(success)
        self.failure = bool(failure)

    @property
    def ids(self):
        """The task ids (the set itself)."""
        return self

    def _switches(self):
        return self.all, self.success, self.failure

    def __eq__(self, other):
        if isinstance(other, Dependency) and self._switches() != other._switches():
            return False
        return set.__eq__(self, other)

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # a set: unhashable

    def counts(self, succeeded):
        """Whether a prerequisite that finished this way counts."""
        return self.success if succeeded else self.failure

    def wanted(self):
        """The counted outcome, in the past tense, for messages."""
        if self.success and self.failure:
            return "finished"
        return "succeeded" if self.success else "failed"

    def as_wire(self):
        """As ``messages.DEPENDENCY`` declares it."""
        return {"ids": sorted(self), "all": self.all, "success": self.success, "failure": self.failure}

    @classmethod
    def from_wire(cls, wire):
        """From ``as_wire``'s form (checked against ``messages.DEPENDENCY`` where it was decoded)."""
        return cls(wire["ids"], wire["all"], wire["success"], wire["failure"])

    def __repr__(self):
        return (f"Dependency({sorted(self)!r}, all={self.all}, success={self.success}, "
                f"failure={self.failure})")

    def __reduce__(self):
        return (Dependency, (sorted(self), self.all, self.success, self.failure))
