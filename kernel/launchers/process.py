"""Child processes that can be stopped completely: spawn, watch, terminate, tail logs.

Every child is started in a session of its own, so a Ctrl-C typed at the
terminal reaches only ipcluster, which then stops the engines before the
controller. Stopping a child also stops the processes it started (mpiexec's
ranks, for example): their pids are read from /proc before the child is
signalled, and whatever is still alive after the grace period is killed,
after checking that the pid still names the same process.
"""

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kernel.proctable import descendants, same_alive
from kernel.settings import ClusterSettings

POLL = 0.05
PR_SET_PDEATHSIG = 1


def program(name):
    """The command line that runs one of our programs (``ipcontroller``, ``ipengine``)."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    return [sys.executable, "-c", f"import sys; from kernel.apps.{name} import main; sys.exit(main())"]


def set_parent_death_signal():
    """In a child, before exec (or after fork): get SIGTERM when the parent dies (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def spawn(argv, output, env=None, cwd=None, die_with_parent=False, stdin=None, pipes=False):
    """Start ``argv`` in a new session, stdout and stderr appended to ``output``.

    With ``pipes``, its stdin and stdout are pipes to this process instead, and only stderr goes to ``output``.
    """
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if pipes:
        stdin = subprocess.PIPE
    with open(output, "ab") as out:
        return subprocess.Popen(
            [str(a) for a in argv], stdin=subprocess.DEVNULL if stdin is None else stdin,
            stdout=subprocess.PIPE if pipes else out, stderr=out if pipes else subprocess.STDOUT,
            env=env, cwd=cwd, start_new_session=True,
            preexec_fn=set_parent_death_signal if die_with_parent and sys.platform.startswith("linux") else None,
        )


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def terminate(procs, timeout=ClusterSettings.stop_timeout, sig=signal.SIGTERM):
    """Stop Popen objects and everything they started; return once all are gone.

    ``sig`` goes to each child (mpiexec forwards it to its ranks); after
    ``timeout`` seconds, the children and any process they started that is
    still running are killed.
    """
    procs = [p for p in procs if p is not None]
    tree = []
    for p in procs:
        if p.poll() is None:
            tree.extend(descendants(p.pid))
    for p in procs:
        if p.poll() is None:
            _signal(p.pid, sig)

    def all_gone():
        return all(p.poll() is not None for p in procs) and not any(same_alive(t) for t in tree)

    deadline = time.monotonic() + timeout
    while not all_gone() and time.monotonic() < deadline:
        time.sleep(POLL)
    if not all_gone():
        for p in procs:
            if p.poll() is None:
                _signal(p.pid, signal.SIGKILL)
        for t in tree:
            if same_alive(t):
                _signal(t[0], signal.SIGKILL)
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
    for t in tree:  # killed grandchildren are reaped by init; wait (bounded) until they are
        deadline = time.monotonic() + 5
        while same_alive(t) and time.monotonic() < deadline:
            time.sleep(POLL)


def tail(path, lines=20):
    """The last ``lines`` lines of a text file, or '' if it cannot be read."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


def tail_report(title, paths, lines=20):
    """'==> path <==' sections with the tail of each non-empty file."""
    parts = []
    for path in paths:
        text = tail(path, lines)
        if text.strip():
            parts.append(f"==> {path} <==\n{text}")
    if not parts:
        return f"{title}: no output"
    return f"{title}:\n" + "\n".join(parts)
