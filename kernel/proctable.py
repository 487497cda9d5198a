"""The process table: whether a pid is alive, and which processes a process started.

Read from Linux's /proc (elsewhere only ``pid_alive`` answers, from
``kill(pid, 0)``). Low in the package: the launchers use it to stop whole
process trees, and shared memory (``kernel.wire.shm``) to tell a live
segment's creator from a dead one.
"""

import os
from pathlib import Path


def _stat(pid):
    """(ppid, start time, state) of ``pid``, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[19]), fields[0]


def descendants(pid):
    """[(pid, start time)] of every process below ``pid``, from /proc."""
    children = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                children.setdefault(st[0], []).append((int(entry), st[1]))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child[0])
    return found


def same_alive(ident):
    """Is the process ``(pid, start time)`` still running (and not a zombie)?"""
    st = _stat(ident[0])
    return st is not None and st[1] == ident[1] and st[2] != "Z"


def pid_alive(pid):
    """Is some process (not a zombie) running as ``pid``?"""
    st = _stat(pid)
    if st is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not Path("/proc").is_dir()
    return st[2] != "Z"
