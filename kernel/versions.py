"""The versions that decide whether two processes can read each other's pickles, and messages.

Clients, the controller and engines tell each other these when they connect.
Functions travel as bytecode, which only the same Python minor version runs,
and cloudpickle's format may change between its major versions: a difference
in either is warned about, naming both sides' versions. Other differences
(kernel's own version, a Python bugfix release) are shown but not warned of.

``protocol`` is the revision of the messages a process understands
(``REVISIONS``). A message's declaration refuses fields it does not
know, so a field added at a revision is sent only to peers that tell that
revision (``speaks``); a peer too old to tell one is at revision 1.
"""

import platform
import warnings

import cloudpickle

import kernel

REVISIONS = {  # the protocol's revisions, and what each added to the messages (docs/protocol.md)
    1: "The first.",
    2: "`execute` takes `echo`: false leaves the code out of the command's result (`input`), "
       "since the caller has it. A client asks for it only of a controller at revision 2, and the "
       "controller passes it on only when every target engine is.",
}
PROTOCOL = max(REVISIONS)  # this process's revision
ECHO = 2  # the revision that added execute's echo

_FIELDS = ("kernel", "python", "cloudpickle", "protocol")
_LONGEST = 64


class VersionMismatchWarning(UserWarning):
    """A peer runs a Python or cloudpickle whose pickles this process may not read."""


def local():
    """This process's versions, as sent to peers."""
    return {"kernel": kernel.__version__, "python": platform.python_version(),
            "cloudpickle": cloudpickle.__version__, "protocol": str(PROTOCOL)}


def received(value):
    """A peer's versions, kept only as short strings of the known fields (they come off the wire)."""
    if not isinstance(value, dict):
        return {}
    return {k: v[:_LONGEST] for k, v in value.items() if k in _FIELDS and isinstance(v, str)}


def protocol(theirs):
    """The protocol revision of a peer that sent the versions ``theirs`` (as ``received`` keeps them)."""
    told = theirs.get("protocol", "")
    return int(told) if told.isascii() and told.isdigit() else 1  # none, or junk off the wire: the first


def speaks(theirs, revision):
    """Whether a peer that sent the versions ``theirs`` understands the messages of ``revision``."""
    return protocol(theirs) >= revision


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
