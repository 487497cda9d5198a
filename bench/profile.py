"""python -m bench.profile [--workload latency|bandwidth|task|submit] [--engines 2] [--seconds 15] [--rate 250] [--all] [--strace] [--cprofile]

Profile our cluster under one workload: start ipcontroller and two ipengines
and run, in a loop, ``execute('pass', targets=0)`` (``--all``: on all
engines), with ``--workload bandwidth`` a push and a pull of a ``--size``
MB array to engine 0, with ``--workload task`` one load-balanced task
(``run(MapTask(f), block=True)``, any engine), or with ``--workload submit``
100 tiny tasks submitted one by one and a ``barrier`` (the scale bench's
"one by one" row; the figures are then per task). ``--engines N`` starts N
engines instead of two (idle ones included: to see what grows with N).
In three phases:

1. no profiler: latency, and CPU time per call of the controller, engine 0
   and this client (from /proc, all threads);
2. py-spy (``pip install py-spy``) sampling those three processes: the
   functions with the most samples, self and inclusive. Samples whose leaf is
   a blocking wait (epoll, a condition variable, a blocking socket read) are
   counted apart as waiting: py-spy's own idle detection misses them here;
3. with ``--strace``: system calls per call of the controller and engine 0
   (``strace -c -f``; slows everything down, only the counts matter);
4. with ``--cprofile``: the controller and the engines run under cProfile
   timed by each thread's CPU clock, switched on for this phase only, and
   this client likewise: CPU time by function, free of the time a process
   spends runnable but waiting for a core (which py-spy counts as working:
   with three busy processes on two cores, a loopback send that wakes the
   peer often shows up as a long send).

Writes the raw collapsed stacks and the summary to bench/results/.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from bench import procs
from bench.remote import noop
from bench.report import RESULTS
from bench.systems.kernel import KernelSystem
from bench.timing import MB, latency_stats


SUBMIT_TASKS = 100  # tasks per call of the submit workload


def py_spy():
    found = Path(sys.executable).parent / "py-spy"
    return str(found) if found.exists() else shutil.which("py-spy")


def _frame_name(frame):
    """``function (path:line)`` → ``function (short/path)`` (lines merged)."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/kernel/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1] if marker != "/kernel/" else "kernel/" + path.split(marker, 1)[1]
            break
    return f"{name} ({path})" if path else name


WAITS = (
    "EPollReactor.doPoll (",       # the reactor waiting in epoll_wait
    "Condition.wait (",            # a thread blocked on a queue or lock
    "SSLSocket.read (",            # the client blocked in recv (TLS decryption included)
    "_PollLikeSelector.select (",
    "select (",
    "StandIn._watch (",            # an engine's stand-in between its looks (time.sleep)
    "StandIn._run (",              # an engine's stand-in asleep on its lock
)


def is_wait(name):
    return name.startswith(WAITS)


def summarise(raw_path, seconds, rate, top=18):
    """Busy fraction and top functions (self and inclusive) from py-spy raw output."""
    self_counts, total_counts, threads = Counter(), Counter(), Counter()
    samples = waiting = 0
    for line in Path(raw_path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        thread = frames[0] if frames[0].startswith("thread") or frames[0].startswith("process") else ""
        frames = [f for f in frames if not (f.startswith("thread (") or f.startswith("process "))]
        if not frames:
            continue
        names = [_frame_name(f) for f in frames]
        if is_wait(names[-1]):
            waiting += n
            continue
        samples += n
        threads[thread] += n
        self_counts[names[-1]] += n
        for name in set(names):
            total_counts[name] += n
    expected = seconds * rate
    lines = [f"  samples: {samples} working, {waiting} waiting, of ~{expected:.0f} "
             f"({100 * samples / expected:.0f}% working); percentages below are of the working samples"]
    samples = max(samples, 1)
    if len(threads) > 1:
        lines.append("  by thread: " + ", ".join(f"{t or '?'} {100 * n / samples:.0f}%" for t, n in threads.most_common()))
    lines.append("  self (leaf function):")
    lines.extend(f"    {100 * n / samples:5.1f}%  {name}" for name, n in self_counts.most_common(top))
    lines.append("  inclusive:")
    lines.extend(f"    {100 * n / samples:5.1f}%  {name}" for name, n in total_counts.most_common(top))
    return "\n".join(lines)


def loop(call, seconds):
    durations, stop_at = [], time.monotonic() + seconds
    while time.monotonic() < stop_at:
        t0 = time.perf_counter()
        call()
        durations.append(time.perf_counter() - t0)
    return durations


def syscalls(call, targets, seconds, prefix, top=12):
    """``strace -c -f`` each target during a loop; system calls per call."""
    strace = shutil.which("strace")
    if strace is None:
        return "strace is not installed: no system call counts"
    tracers, outputs = [], {}
    try:
        for name, pid in targets.items():
            outputs[name] = Path(f"{prefix}-strace-{name}.txt")
            tracers.append(subprocess.Popen([strace, "-c", "-f", "-p", str(pid), "-o", str(outputs[name])],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(1.0)
        n = len(loop(call, seconds))
    finally:
        for tracer in tracers:
            if tracer.poll() is None:
                tracer.send_signal(signal.SIGINT)  # strace writes its summary on SIGINT
        for tracer in tracers:
            try:
                tracer.wait(10)
            except subprocess.TimeoutExpired:
                pass
        procs.stop_popen(tracers, grace=1.0)
    lines = [f"system calls per call under strace ({n} calls):"]
    for name, path in outputs.items():
        counts = []
        for row in path.read_text().splitlines() if path.exists() else []:
            parts = row.split()
            if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                counts.append((int(parts[3]), parts[-1]))
        counts.sort(reverse=True)
        total = sum(c for c, _ in counts)
        lines.append(f"  {name}: {total / max(n, 1):.1f} per call: "
                     + ", ".join(f"{sc} {c / max(n, 1):.1f}" for c, sc in counts[:top]))
    return "\n".join(lines)


def cprofiled(system, call, targets, seconds, client_out, top=15, per_call=1):
    """Phase 4: CPU time by function (cProfile on each thread's CPU clock)."""
    import cProfile
    import pstats

    for pid in targets.values():
        os.kill(pid, signal.SIGUSR1)
    time.sleep(0.5)
    client = cProfile.Profile(time.thread_time)
    client.enable()
    n = len(loop(call, seconds))
    client.disable()
    client.dump_stats(str(client_out))
    files = {"client": str(client_out)}
    for name, pid in targets.items():
        os.kill(pid, signal.SIGUSR2)
        prefix = system.process(pid).cprofile
        for thread in ("main", "network"):
            path = Path(f"{prefix}.{thread}")
            try:
                files[f"{name} {thread} thread"] = str(wait_file(path, 5.0 if thread == "main" else 2.0))
            except TimeoutError:
                pass
    unit = "task" if per_call > 1 else "call"
    lines = [f"cProfile, CPU clock, {n * per_call} {unit}s (cProfile's own overhead inflates small functions):"]
    for name, path in files.items():
        stats = pstats.Stats(path).stats
        total = sum(v[2] for v in stats.values())
        lines.append(f"\n{name}: {total / n / per_call * 1e6:.0f} µs CPU per {unit} under cProfile; by own time "
                     f"(µs per {unit}, calls per {unit}), then by time including callees:")
        for key, v in sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]:
            lines.append(f"  {100 * v[2] / total:5.1f}%  {v[2] / n / per_call * 1e6:7.1f} µs  "
                         f"{v[1] / n / per_call:8.2f}  {_where(key)}")
        for key, v in sorted(stats.items(), key=lambda kv: -kv[1][3])[:top]:
            lines.append(f"  incl. {v[3] / n / per_call * 1e6:7.1f} µs  {v[1] / n / per_call:8.2f}  {_where(key)}")
    return "\n".join(lines)


def _where(key):
    path, line, func = key
    if path == "~":
        return func
    return f"{func} ({_frame_name(f'x ({path}:{line})').split(' (', 1)[1].rstrip(')')}:{line})"


def wait_file(path, timeout):
    deadline = time.monotonic() + timeout
    while not path.exists() or path.stat().st_size == 0:
        if time.monotonic() > deadline:
            raise TimeoutError(str(path))
        time.sleep(0.05)
    time.sleep(0.1)  # let the writer finish
    return path


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[1])
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--workload", choices=("latency", "bandwidth", "task", "submit"), default="latency")
    p.add_argument("--engines", type=int, default=2, help="engines to start (default 2)")
    p.add_argument("--size", type=float, default=16, help="MB per push and pull (bandwidth workload)")
    p.add_argument("--all", action="store_true", help="execute on all engines instead of engine 0")
    p.add_argument("--strace", action="store_true", help="also count system calls per call (needs strace)")
    p.add_argument("--cprofile", action="store_true", help="also profile CPU time by function with cProfile")
    args = p.parse_args(argv)
    spy = py_spy()
    if spy is None:
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    system = KernelSystem(cprofile_prefix=str(RESULTS / f"profile-{stamp}-cprofile") if args.cprofile else None)
    system.engines = args.engines
    spies = []
    per_call = SUBMIT_TASKS if args.workload == "submit" else 1
    try:
        system.start()
        pids = system.pids()
        if args.workload == "bandwidth":
            import numpy

            array = numpy.ones(int(args.size * MB) // 8)

            def call():
                system.push(array)
                system.pull()

            what = f"push and pull of {args.size:g} MB, engine 0"
        elif args.workload == "task":
            def call():
                system.task_one(noop)  # the bench's own, sent by value as in its task rows

            what = "one load-balanced task, run(MapTask(f), block=True)"
        elif args.workload == "submit":
            def call():
                system.tasks_run(noop, SUBMIT_TASKS)

            what = f"{SUBMIT_TASKS} tasks submitted one by one, then a barrier (figures per task)"
        else:
            call = system.tiny_all if args.all else system.tiny_one
            what = f"execute('pass') on {'all engines' if args.all else 'engine 0'}"
        for _ in range(3 if args.workload == "bandwidth" else 200):
            call()
        targets = {"controller": pids["controller"], "engine0": pids["engines"][0], "client": os.getpid()}
        if args.workload in ("task", "submit"):  # any engine runs it
            targets["engine1"] = pids["engines"][1]
        before = {name: procs.cpu_seconds(pid) for name, pid in targets.items()}
        plain = loop(call, args.seconds)
        after = {name: procs.cpu_seconds(pid) for name, pid in targets.items()}
        plain_stats = latency_stats(plain)
        cpu = {name: (after[name] - before[name]) / len(plain) / per_call * 1e6 for name in targets}
        report = [f"kernel with {args.engines} engines under a loop of {what}, {stamp}",
                  f"\nwithout a profiler: {plain_stats['n']} calls in {args.seconds:g} s, median "
                  f"{plain_stats['median']:.0f} µs, p99 {plain_stats['p99']:.0f} µs; CPU time per "
                  f"{'task' if per_call > 1 else 'call'}: "
                  + ", ".join(f"{name} {us:.0f} µs" for name, us in cpu.items())
                  + f" (sum {sum(cpu.values()):.0f} µs)"]
        outputs = {}
        for name, pid in targets.items():
            outputs[name] = RESULTS / f"profile-{stamp}-{name}.txt"
            spies.append(subprocess.Popen(
                [spy, "record", "--pid", str(pid), "--rate", str(args.rate), "--duration", str(int(args.seconds)),
                 "--format", "raw", "--threads", "--output", str(outputs[name])],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        time.sleep(1.0)  # let py-spy attach before the timed loop
        durations = loop(call, args.seconds - 2)
        for spy_process in spies:
            _, err = spy_process.communicate(timeout=args.seconds + 30)
            if spy_process.returncode:
                print(f"py-spy failed: {err.decode(errors='replace')[-500:]}", file=sys.stderr)
        stats = latency_stats(durations)
        report.append(f"\nunder py-spy at {args.rate} Hz: {stats['n']} calls, median {stats['median']:.0f} µs, "
                      f"p99 {stats['p99']:.0f} µs")
        for name, path in outputs.items():
            report.append(f"\n{name} (pid {targets[name]}):")
            report.append(summarise(path, int(args.seconds), args.rate) if path.exists() else "  no samples")
        if args.cprofile:
            report.append("\n" + cprofiled(system, call, {k: v for k, v in targets.items() if k != "client"},
                                             args.seconds, RESULTS / f"profile-{stamp}-cprofile-client",
                                             per_call=per_call))
        if args.strace:
            report.append("\n" + syscalls(call, {k: v for k, v in targets.items() if k != "client"},
                                            args.seconds, RESULTS / f"profile-{stamp}"))
        text = "\n".join(report)
        (RESULTS / f"profile-{stamp}-summary.txt").write_text(text + "\n")
        print(text)
        print(f"\nwrote {RESULTS}/profile-{stamp}-*.txt")
    finally:
        procs.stop_popen(spies, grace=1.0)
        system.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
