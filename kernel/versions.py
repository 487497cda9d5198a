"""The versions that decide whether two processes can read each other's pickles.

Clients, the controller and engines tell each other these when they connect.
Functions travel as bytecode, which only the same Python minor version runs,
and cloudpickle's format may change between its major versions: a difference
in either is warned about, naming both sides' versions. Other differences
(kernel's own version, a Python bugfix release) are shown but not warned of.
"""

import platform
import warnings

import cloudpickle

import kernel

_FIELDS = ("kernel", "python", "cloudpickle")
_LONGEST = 64


class VersionMismatchWarning(UserWarning):
    """A peer runs a Python or cloudpickle whose pickles this process may not read."""


def local():
    """This process's versions, as sent to peers."""
    return {"kernel": kernel.__version__, "python": platform.python_version(),
            "cloudpickle": cloudpickle.__version__}


def received(value):
    """A peer's versions, kept only as short strings of the known fields (they come off the wire)."""
    if not isinstance(value, dict):
        return {}
    return {k: v[:_LONGEST] for k, v in value.items() if k in _FIELDS and isinstance(v, str)}


def _release(version, parts):
    return tuple(version.split(".")[:parts])


def conflict(mine, theirs, here, there):
    """A sentence naming both sides' versions where their pickles may not mix, else ``None``."""
    problems = []
    if "python" in theirs and _release(mine["python"], 2) != _release(theirs["python"], 2):
        problems.append(f"Python {theirs['python']} on {there}, {mine['python']} on {here}")
    if "cloudpickle" in theirs and _release(mine["cloudpickle"], 1) != _release(theirs["cloudpickle"], 1):
        problems.append(f"cloudpickle {theirs['cloudpickle']} on {there}, {mine['cloudpickle']} on {here}")
    if not problems:
        return None
    return (f"{'; '.join(problems)}: functions and values sent between them may fail to load. "
            "Run the same Python minor version and cloudpickle major version everywhere.")


def warn_of_mismatch(theirs, there, stacklevel=3):
    """Warn (``VersionMismatchWarning``) when ``there`` runs versions whose pickles may not mix with ours."""
    mismatch = conflict(local(), theirs, "this client", there)
    if mismatch:
        warnings.warn(mismatch, VersionMismatchWarning, stacklevel=stacklevel)
