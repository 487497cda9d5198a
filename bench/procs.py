"""Process bookkeeping: every process a benchmark starts is killed by pid."""

import os
import signal
import subprocess
import time

from kernel.launchers import process


def children_of(pid):
    """Pids of all live descendants of ``pid`` (read from /proc; empty elsewhere)."""
    return [child for child, _ in process.descendants(pid)]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie still answers kill(0)
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rfind(b")") + 2:stat.rfind(b")") + 3] != b"Z"
    except OSError:
        return True


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


def total_cpu_seconds(pids):
    """CPU time of this process plus ``pids`` (each counted once)."""
    return sum(cpu_seconds(p) for p in {os.getpid(), *pids})
