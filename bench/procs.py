"""Process bookkeeping: every process a benchmark starts is killed by pid."""

import contextlib
import os
import signal
import subprocess
import time

from kernel.launchers import process
from kernel.proctable import pid_alive as alive


def children_of(pid):
    """Pids of all live descendants of ``pid`` (read from /proc; empty elsewhere)."""
    return [child for child, _ in process.descendants(pid)]


def kill_pids(pids, grace=3.0):
    """SIGTERM each pid, wait up to ``grace`` s, then SIGKILL the survivors."""
    pids = [p for p in dict.fromkeys(pids) if p and p != os.getpid()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


class Spawned:
    """The processes this one starts from ``mark`` on, recorded as they appear and killed by pid.

    A cluster library starts its processes itself (as children of this
    process, or below them); they are found in /proc, not asked of the library,
    so that none escapes ``kill`` whatever state the library is left in.
    """

    def __init__(self, keep=lambda: ()):
        self.keep = keep  # () -> pids below this process that are not the cluster's
        self.before = set()
        self.pids = []

    def __enter__(self):
        """Mark; on leaving the block, even by an exception, record what it started."""
        self.mark()
        return self

    def __exit__(self, *exc):
        self.record()

    def mark(self):
        self.before = set(children_of(os.getpid()))

    def record(self):
        """Add the processes started since ``mark``; return all recorded so far."""
        skip = self.before | set(self.pids) | {p for p in self.keep() if p}
        self.pids.extend(p for p in children_of(os.getpid()) if p not in skip)
        return list(self.pids)

    def kill(self, grace=2.0):
        kill_pids(self.record(), grace)
        self.pids = []


@contextlib.contextmanager
def environ(values):
    """``os.environ`` updated with ``values`` inside the block: what the processes a library starts inherit.

    Afterwards it is put back as it was, including what the library itself set in it.
    """
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def stop_popen(processes, grace=3.0):
    """Stop Popen objects and anything they spawned; reap them."""
    processes = [p for p in processes if p is not None]
    pids = []
    for p in processes:
        if p.poll() is None:
            pids.extend(children_of(p.pid))
            pids.append(p.pid)
    kill_pids(pids, grace)
    for p in processes:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            pass


def cpu_seconds(pid):
    """CPU time a process has used, all its live threads, in seconds; 0 if it is gone.

    Read from each thread's /proc schedstat (nanoseconds); falls back to the
    process's utime + stime (clock ticks) where schedstat is missing.
    """
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        tasks = []
    total, found = 0, False
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                total += int(f.read().split()[0])
                found = True
        except (OSError, ValueError, IndexError):
            continue
    if found:
        return total / 1e9
    if pid == os.getpid():
        t = os.times()
        return t.user + t.system
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_times():
    """The machine's CPU time so far, by kind (/proc/stat's first line, in clock ticks); None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    return [int(n) for n in fields[1:]]


def stolen_share(before, after):
    """Of the machine's CPU time between two ``machine_times()``, the share the hypervisor
    took for other guests (steal, the eighth field); None where it cannot be told."""
    if before is None or after is None or len(after) < 8:
        return None
    spent = [b - a for a, b in zip(before, after)]
    return spent[7] / sum(spent) if sum(spent) else None


def _status_kb(pid, field, name="status"):
    """A ``field: N kB`` line of /proc/PID/status (or smaps_rollup), in kB; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/{name}") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def memory(pids):
    """``{"rss": bytes, "pss": bytes}`` summed over ``pids``: VmRSS, and Pss from smaps_rollup.

    Forked processes share pages with their parent; RSS counts them in each,
    PSS divides each shared page between the processes mapping it.
    """
    pids = set(pids)
    return {"rss": 1024 * sum(_status_kb(p, "VmRSS") for p in pids),
            "pss": 1024 * sum(_status_kb(p, "Pss", "smaps_rollup") for p in pids)}


def command_line(pid):
    """The arguments ``pid`` was started with (argv); [] if it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [arg.decode(errors="replace") for arg in f.read().split(b"\0") if arg]
    except OSError:
        return []


def program_name(pid):
    """The file name of the program ``pid`` runs (its argv[0]); '' if it is gone."""
    argv = command_line(pid)
    return os.path.basename(argv[0]) if argv else ""
