"""A task the controller refuses, as a client that skips its own checks sends it.

This client refuses a negative task id in ``after``; an older or a foreign
client may send one, and the ``run`` message's declaration refuses it. The
tests of refused runs, in memory and over TLS, send such a task and expect
these words back.
"""

import re

from kernel.dependency import Dependency

REASON = "run.tasks[0][0].after.ids[0] must be an int >= 0, not -1"


class Unchecked(Dependency):
    """``after`` as a client that does not check its ids sends it: with a negative one."""

    def as_wire(self):
        return {**super().as_wire(), "ids": [-1]}


def refusal(taskid):
    """What the controller answers about task ``taskid`` once it refused it."""
    return f"task {taskid} was refused by the controller: {REASON}"


def refused_as(taskid):
    """``refusal(taskid)`` as a pattern for ``pytest.raises(match=...)``: the whole message."""
    return f"^{re.escape(refusal(taskid))}$"
