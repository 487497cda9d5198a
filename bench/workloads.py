"""What is timed, the same way for every system.

A workload names the system operation it times (see ``bench.systems.System``)
and the metrics it produces. If a system raises ``Unsupported`` for the
operation, the workload's metrics are recorded as skipped with that note; any
other failure is recorded as an error and the run goes on. To add a workload:
give ``System`` an operation (raising Unsupported by default), implement it in
the systems that have it, and append a ``Workload`` to ``WORKLOADS``.
"""

import os
import statistics
import time
from dataclasses import dataclass, field

import numpy

from bench import procs
from bench.remote import noop, pow10
from bench.systems import Unsupported
from bench.timing import MB, clock, latency_stats, time_calls


@dataclass
class Config:
    quick: bool = False
    sizes: list = field(default_factory=lambda: [1, 16, 128])

    def __post_init__(self):
        q = self.quick
        self.startup_reps = 1 if q else 3
        self.latency_calls = 100 if q else 500
        self.latency_warmup = 10 if q else 50
        self.map_reps = 3 if q else 10
        self.tasks_n = 200 if q else 2000
        self.tasks_map_n = 1000 if q else 10000
        self.task_reps = 1 if q else 3
        self.task_latency_calls = 50 if q else 300
        self.idle_window = 0.5 if q else 2.0
        self.memory_tasks = [1000, 10000] if q else [10000, 100000]
        self.memory_chunk = 10000

    def bandwidth_reps(self, size_mb):
        if self.quick:
            return 2 if size_mb < 64 else 1
        return 10 if size_mb <= 4 else 5 if size_mb <= 32 else 3


@dataclass
class Metric:
    key: str
    label: str
    unit: str
    better: str  # "lower" or "higher"
    group: str = ""


def describe(exc, limit=160):
    """One line for a failure: its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    return text if len(text) <= limit else text[:limit - 1] + "…"


def check_count(op, results, n):
    """Fail unless ``op`` returned ``n`` results."""
    got = len(list(results))
    if got != n:
        raise AssertionError(f"{op} returned {got} results, not {n}")


class Workload:
    name = ""
    title = ""

    def metrics(self, cfg):
        raise NotImplementedError

    def measure(self, system, cfg):
        """Return ``{metric key: value}`` (plus ``"_detail"``: anything for the JSON)."""
        raise NotImplementedError

    def run(self, system, cfg):
        """``{metric key: {"value": v} | {"skipped": note} | {"error": text}}`` and a detail."""
        keys = [m.key for m in self.metrics(cfg)]
        try:
            values = self.measure(system, cfg)
        except Unsupported as e:
            return {k: {"skipped": str(e)} for k in keys}, None
        except Exception as e:
            return {k: {"error": describe(e)} for k in keys}, None
        detail = values.pop("_detail", None)
        return {k: ({"value": values[k]} if k in values else {"skipped": "not measured"}) for k in keys}, detail


class CpuMeter:
    """CPU seconds used by some processes (default: all of a system's) from now on, less their idle rate.

    The idle rate (heartbeats, timers) is the least of four consecutive
    windows adding up to ``idle_window`` s, so that work still draining from
    the previous workload does not count as idle. ``busy`` counts this
    process too; ``busy_each`` gives each of ``pids`` alone.
    """

    WINDOWS = 4

    def __init__(self, system, idle_window, pids=None):
        self.pids = system.all_pids() if pids is None else pids
        rates, each = [], []
        cpu, t = self._read(), clock()
        for _ in range(self.WINDOWS):
            time.sleep(idle_window / self.WINDOWS)
            cpu_next, t_next = self._read(), clock()
            rates.append((sum(cpu_next.values()) - sum(cpu.values())) / (t_next - t))
            each.append({pid: (cpu_next[pid] - cpu[pid]) / (t_next - t) for pid in cpu})
            cpu, t = cpu_next, t_next
        self.start, self.t = cpu, t
        self.idle_rate = min(rates)
        self.idle_each = {pid: min(window[pid] for window in each) for pid in cpu}

    def _read(self):
        return {pid: procs.cpu_seconds(pid) for pid in {os.getpid(), *self.pids}}

    def busy(self):
        return sum(self._read().values()) - sum(self.start.values()) - self.idle_rate * (clock() - self.t)

    def busy_each(self):
        """``{pid: busy seconds}`` of each of ``pids``, each less its own idle rate."""
        now, elapsed = self._read(), clock() - self.t
        return {pid: now[pid] - self.start[pid] - self.idle_each[pid] * elapsed for pid in self.pids}


class Latency(Workload):
    """Blocking round trips of one tiny operation: median, p99, and CPU time per call.

    The CPU time is that of every process of the system (this one included:
    the client, and dask's scheduler, live here) while the calls ran, less
    what the same processes use when idle (heartbeats, timers; measured just
    before), divided by the number of calls. Unlike the wall times it hardly
    depends on what else the machine is doing. With ``scheduler=True`` also
    the scheduler's processes' alone, measured the same way over the same
    calls (``{name}.scheduler_cpu``).
    """

    def __init__(self, name, title, op, args=(), calls="latency_calls", group="latency", scheduler=False):
        self.name, self.title, self.op, self.args, self.calls, self.group = name, title, op, args, calls, group
        self.scheduler = scheduler

    def metrics(self, cfg):
        out = [Metric(f"{self.name}.median", f"{self.title}: median", "µs", "lower", self.group),
               Metric(f"{self.name}.p99", f"{self.title}: p99", "µs", "lower", self.group),
               Metric(f"{self.name}.cpu", f"{self.title}: CPU, all processes", "µs", "lower", self.group)]
        if self.scheduler:
            out.append(Metric(f"{self.name}.scheduler_cpu", f"{self.title}: scheduler CPU", "µs", "lower",
                              self.group))
        return out

    def measure(self, system, cfg):
        call = getattr(system, self.op)
        args = self.args
        n = getattr(cfg, self.calls)
        for _ in range(cfg.latency_warmup):
            call(*args)
        meter = CpuMeter(system, cfg.idle_window)
        pids = scheduler_pids(system) if self.scheduler else []
        scheduler = CpuMeter(system, cfg.idle_window, pids) if pids else None
        durations = time_calls(lambda: call(*args), n)
        stats = latency_stats(durations)
        stats["cpu_us"] = meter.busy() / n * 1e6
        stats["idle_cpu_per_s"] = meter.idle_rate
        values = {f"{self.name}.median": stats["median"], f"{self.name}.p99": stats["p99"],
                  f"{self.name}.cpu": stats["cpu_us"]}
        if scheduler is not None:
            stats["scheduler_cpu_us"] = values[f"{self.name}.scheduler_cpu"] = scheduler.busy() / n * 1e6
            stats["scheduler_idle_cpu_per_s"] = scheduler.idle_rate
            stats["scheduler_cpu_us_each"] = {pid: busy / n * 1e6 for pid, busy in scheduler.busy_each().items()}
        return {**values, "_detail": stats}


class Bandwidth(Workload):
    """Push a float64 array to one engine, pull it back; MB/s each way (median of reps)."""

    name = "bandwidth"
    title = "push / pull of a numpy array, one engine"

    def metrics(self, cfg):
        out = []
        for size in cfg.sizes:
            out.append(Metric(f"bandwidth.push.{size}", f"push {size} MB to one engine", "MB/s", "higher", "bandwidth"))
            out.append(Metric(f"bandwidth.pull.{size}", f"pull {size} MB from one engine", "MB/s", "higher", "bandwidth"))
        size = max(cfg.sizes)
        out.append(Metric(f"bandwidth.cpu.{size}", f"push+pull {size} MB: CPU per MB moved, all processes",
                          "ms", "lower", "bandwidth"))
        return out

    def measure(self, system, cfg):
        warm = numpy.ones(1 << 14)
        system.push(warm)
        system.pull()
        values, detail = {}, {}
        for size in cfg.sizes:
            array = numpy.ones(int(size * MB) // 8)
            push_s, pull_s = [], []
            meter = CpuMeter(system, cfg.idle_window) if size == max(cfg.sizes) else None
            for rep in range(cfg.bandwidth_reps(size)):
                t0 = clock()
                system.push(array)
                t1 = clock()
                back = system.pull()
                t2 = clock()
                push_s.append(t1 - t0)
                pull_s.append(t2 - t1)
                if rep == 0 and not (isinstance(back, numpy.ndarray) and back.shape == array.shape
                                     and numpy.array_equal(back, array)):
                    raise AssertionError(f"pulled back something else than the {size} MB array pushed")
                del back
            nbytes = array.nbytes / MB
            values[f"bandwidth.push.{size}"] = nbytes / statistics.median(push_s)
            values[f"bandwidth.pull.{size}"] = nbytes / statistics.median(pull_s)
            detail[size] = {"push_s": push_s, "pull_s": pull_s}
            if meter is not None:
                moved = 2 * array.nbytes / MB * len(push_s)
                values[f"bandwidth.cpu.{size}"] = meter.busy() / moved * 1e3
                detail[size]["idle_cpu_per_s"] = meter.idle_rate
            del array
        values["_detail"] = detail
        return values


class MapWall(Workload):
    name = "map"
    title = "map(lambda x: x**10, range(32))"

    def metrics(self, cfg):
        return [Metric("map.wall", "map(lambda x: x**10, range(32)): wall", "ms", "lower", "map")]

    def measure(self, system, cfg):
        seq = range(32)
        expected = [x**10 for x in seq]

        def once():
            result = system.map(pow10, seq)
            if list(result) != expected:
                raise AssertionError(f"map returned {list(result)[:4]}...")

        seconds = time_calls(once, cfg.map_reps, warmup=1)
        return {"map.wall": statistics.median(seconds) * 1e3, "_detail": {"seconds": seconds}}


def scheduler_pids(system):
    """``system.scheduler_pids()``, or [] where the scheduler has no process of its own."""
    try:
        return system.scheduler_pids()
    except Unsupported:
        return []


class TaskThroughput(Workload):
    """Many load-balanced no-op tasks: tasks per second (median of reps).

    With ``cpu=True`` also the CPU time per task of the scheduler's processes
    (``System.scheduler_pids``), of this process (the client) and of every
    process of the system with this one, read from /proc over all the reps,
    idle time included: what the scheduler and the idle engines spend on
    heartbeats while the tasks run counts.

    With ``rate`` (tasks per second, a ``cfg`` attribute's name) the tasks go
    in chunks of PACE_CHUNK at that rate instead of all at once, each chunk
    waited for: the same flow whatever the engine count, so that the CPU
    per task compares across engine counts (a scheduler's cost per task
    depends on how many tasks share each of its wake-ups).
    """

    PACE_CHUNK = 10

    def __init__(self, name, title, op, count, cpu=False, rate=None):
        self.name, self.title, self.op, self.count, self.cpu, self.rate = name, title, op, count, cpu, rate

    def _arg(self, n):
        return n if self.op == "tasks_run" else range(n)

    def _paced(self, call, n, rate):
        """``n`` tasks in chunks of PACE_CHUNK, chunk i started no sooner than i × PACE_CHUNK / rate s in."""
        t0, done = clock(), 0
        while done < n:
            k = min(self.PACE_CHUNK, n - done)
            check_count(self.op, call(noop, self._arg(k)), k)
            done += k
            lag = t0 + done / rate - clock()
            if lag > 0:
                time.sleep(lag)
        return range(n)

    def metrics(self, cfg):
        title = self.title.format(n=getattr(cfg, self.count), rate=getattr(cfg, self.rate) if self.rate else None)
        out = [Metric(f"{self.name}.rate", title, "tasks/s", "higher", "tasks")]
        if self.cpu:
            out += [Metric(f"{self.name}.scheduler_cpu", f"{title}: scheduler CPU per task", "µs", "lower", "tasks"),
                    Metric(f"{self.name}.client_cpu", f"{title}: client CPU per task", "µs", "lower", "tasks"),
                    Metric(f"{self.name}.all_cpu", f"{title}: CPU per task, all processes", "µs", "lower", "tasks")]
        return out

    def measure(self, system, cfg):
        n = getattr(cfg, self.count)
        call = getattr(system, self.op)
        call(noop, self._arg(20))  # warm-up (and Unsupported before any timing)
        watched = {"scheduler": scheduler_pids(system), "client": [os.getpid()],
                   "all": [os.getpid(), *system.all_pids()]} if self.cpu else {}
        before = {role: sum(map(procs.cpu_seconds, pids)) for role, pids in watched.items()}
        seconds = []
        for _ in range(cfg.task_reps):
            t0 = clock()
            results = self._paced(call, n, getattr(cfg, self.rate)) if self.rate else call(noop, self._arg(n))
            seconds.append(clock() - t0)
            check_count(self.op, results, n)
        values = {f"{self.name}.rate": n / statistics.median(seconds), "_detail": {"seconds": seconds, "n": n}}
        for role, pids in watched.items():
            if pids:
                used = sum(map(procs.cpu_seconds, pids)) - before[role]
                values[f"{self.name}.{role}_cpu"] = used / (n * cfg.task_reps) * 1e6
        return values


class SchedulerMemory(Workload):
    """The resident memory of the processes that schedule tasks, after n and then N tiny tasks.

    The tasks go through the load-balanced map in chunks, so that the client
    holds one chunk of results at a time. The memory is summed over
    ``System.scheduler_pids``, once the scheduler has let go of the finished
    tasks (``System.settle``): VmRSS, and PSS, which divides each page
    shared between processes (ipyparallel's forked schedulers, shared
    libraries) among them, so that a sum over forks does not count it again
    in each. ``run_system`` gives this workload a cluster of its own, so that
    no earlier workload's tasks count.
    """

    name = "memory"
    title = "controller/scheduler memory"

    def metrics(self, cfg):
        return [Metric(f"memory.{kind}.{n}", f"controller/scheduler {kind.upper()} after {n:,} tasks", "MB", "lower",
                       "memory") for kind in ("rss", "pss") for n in cfg.memory_tasks]

    def measure(self, system, cfg):
        pids = system.scheduler_pids()
        detail = {"pids": pids, "names": [procs.program_name(p) for p in pids], "at_start": procs.memory(pids)}
        values, done = {}, 0
        for total in cfg.memory_tasks:
            while done < total:
                n = min(cfg.memory_chunk, total - done)
                check_count("tasks_map", system.tasks_map(noop, range(n)), n)
                done += n
            system.settle()
            detail[total] = procs.memory(pids)
            values.update({f"memory.{kind}.{total}": size / MB for kind, size in detail[total].items()})
        values["_detail"] = detail
        return values


WORKLOADS = [
    Latency("latency.one", "tiny call, one engine", "tiny_one"),
    Latency("latency.all", "tiny call, all engines", "tiny_all"),
    Latency("latency.apply", "apply f() on one chosen engine", "apply_one", args=(noop,)),
    Bandwidth(),
    MapWall(),
    TaskThroughput("tasks.run", "{n} tasks submitted one by one, then waited", "tasks_run", "tasks_n"),
    TaskThroughput("tasks.map", "load-balanced map over {n} items", "tasks_map", "tasks_map_n"),
    Latency("tasks.latency", "one load-balanced task", "task_one", args=(noop,),
            calls="task_latency_calls", group="tasks"),
]

MEMORY = SchedulerMemory()

STARTUP = Metric("startup.ready", "start-up to 2 engines ready", "s", "lower", "startup")


def all_metrics(cfg):
    return [STARTUP] + [m for w in [*WORKLOADS, MEMORY] for m in w.metrics(cfg)]


def run_workload(system, workload, cfg, metrics, details, log):
    """Run one workload into ``metrics`` and ``details``, and log how it went."""
    t0 = clock()
    results, detail = workload.run(system, cfg)
    metrics.update(results)
    if detail is not None:
        details[workload.name] = detail
    first = next(iter(results.values()))
    state = "skipped" if "skipped" in first else "error" if "error" in first else "done"
    log(f"  {system.name}: {workload.name} {state} ({clock() - t0:.1f} s)"
        + (f": {first.get('skipped') or first.get('error')}" if state != "done" else ""))


def cluster_failed(metrics, every_metric, exc, log, who):
    """The cluster failed: each metric not measured yet records why, and the log says so once."""
    for m in every_metric:
        metrics.setdefault(m.key, {"error": f"cluster failed: {describe(exc)}"})
    log(f"  {who}: failed: {describe(exc)}")


def run_system(system, cfg, log=print):
    """Start-up (``cfg.startup_reps`` times; the last cluster stays up), every workload, then memory.

    The memory rows get a fresh cluster (``System.start_apart``).
    Returns ``(metrics, details)``; the cluster is always stopped.
    """
    metrics, details = {}, {"startup": []}
    try:
        for rep in range(cfg.startup_reps):
            if rep:
                system.stop()
            details["startup"].append(system.start())
            log(f"  {system.name}: started in {details['startup'][-1]['ready']:.2f} s")
        metrics[STARTUP.key] = {"value": statistics.median(s["ready"] for s in details["startup"])}
        for workload in WORKLOADS:
            run_workload(system, workload, cfg, metrics, details, log)
        system.stop()
        details["memory_startup"] = system.start_apart()
        log(f"  {system.name}: started again for the memory rows in {details['memory_startup']['ready']:.2f} s")
        run_workload(system, MEMORY, cfg, metrics, details, log)
    except Exception as e:
        metrics.setdefault(STARTUP.key, {"error": describe(e)})
        cluster_failed(metrics, all_metrics(cfg), e, log, system.name)
    finally:
        system.stop()
    return metrics, details
