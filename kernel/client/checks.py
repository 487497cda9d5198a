"""The clients' argument checks, each written once.

A bad argument is refused here, before anything is sent, with a TypeError
(wrong type) or a ValueError (right type, wrong value) that names the
argument; the controller checks the same fields again where it decodes them
(``kernel.wire.messages``), so what passes here is what it accepts.
"""

import math

from kernel.values import is_int


def targets(value):
    """'all', an engine id, or a list of engine ids (a tuple becomes a list)."""
    if value == "all" or is_int(value):
        return value
    if isinstance(value, (list, tuple)) and all(is_int(t) for t in value):
        return list(value)
    raise ValueError(f"targets must be a str, list, tuple or int: 'all', an engine id or a list "
                     f"of engine ids, not {value!r}")


def keys(value, method):
    """A name, or a list of names (a tuple becomes a list)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(k, str) for k in value):
        return list(value)
    raise TypeError(f"{method}: keys must be a str or a list/tuple of str, not {value!r}")


def taskid(value):
    if not is_int(value):
        raise TypeError(f"an integer task id expected: {value!r}")
    return value


def taskids(value):
    """A task id or a collection of them, as a list."""
    if is_int(value):
        return [value]
    if not isinstance(value, (list, tuple, set, frozenset, range)):
        raise TypeError(f"a task id or a list of task ids expected: {value!r}")
    return [taskid(t) for t in value]


def flag(value, name):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


def retries(value):
    """How many times a failed task runs again: an int >= 0."""
    if not is_int(value):
        raise TypeError(f"retries must be an int (how many times to run a failed task again), not {value!r}")
    if value < 0:
        raise ValueError(f"retries must be >= 0, not {value!r}")
    return value


def timeout(value):
    """Seconds a task may wait to start: a finite number >= 0, or None; 0 and None mean no timeout."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {value!r}")
    try:
        seconds = float(value)
    except OverflowError:  # an int too big for a float
        seconds = math.inf
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"timeout must be a finite number of seconds >= 0 (0 or None: no timeout), "
                         f"not {value!r}")
    return seconds or None
