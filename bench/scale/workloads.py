"""What the scale bench times at each engine count, beside the workloads it shares with ``python -m bench``.

Each is a ``bench.workloads.Workload``: skipped with a note where a system
has no equivalent, recorded as an error (and the run goes on) where it fails.
"""

import os
import subprocess
import sys
import time
from dataclasses import dataclass

from bench import procs, remote
from bench.remote import echo, noop
from bench.timing import MB, clock
from bench.workloads import Latency, Metric, TaskThroughput, Workload, check_count, scheduler_pids


@dataclass
class ScaleConfig:
    """How much of each workload; ``quick`` is a smoke run."""

    quick: bool = False
    only: list = None  # the names of the workloads to run; None: all
    tasks: int = 5000  # tiny tasks, one by one and in one map
    busy_per_engine: int = 200  # 5 ms tasks per engine
    busy_seconds: float = 0.005
    legacy_tasks: int = 5000
    paced_tasks: int = 2500  # tiny tasks at a fixed rate, the same at every engine count
    paced_rate: float = 250.0

    def __post_init__(self):
        q = self.quick
        if q:
            self.tasks, self.busy_per_engine, self.legacy_tasks, self.paced_tasks = 500, 20, 500, 250
        self.task_reps = 1  # the rounds repeat every workload
        self.latency_calls = 50 if q else 200  # one load-balanced round trip, and the broadcast
        self.latency_warmup = 10 if q else 20
        self.idle_window = 0.5 if q else 2.0


class EngineMemory(Workload):
    """The idle engines' resident memory, per engine: VmRSS and PSS of each engine process, averaged."""

    name = "engine_memory"

    def metrics(self, cfg):
        return [Metric("engine.rss", "idle engine RSS", "MB", "lower"),
                Metric("engine.pss", "idle engine PSS", "MB", "lower")]

    def measure(self, system, cfg):
        pids = system.engine_pids()
        used = procs.memory(pids)
        return {"engine.rss": used["rss"] / len(pids) / MB, "engine.pss": used["pss"] / len(pids) / MB,
                "_detail": {"pids": len(pids), "rss": used["rss"], "pss": used["pss"]}}


class IdleScheduler(Workload):
    """The scheduler's CPU while every engine sits idle: heartbeats and timers, in % of one core."""

    name = "idle"

    def metrics(self, cfg):
        return [Metric("idle.scheduler_cpu", "scheduler CPU with idle engines", "%", "lower")]

    def measure(self, system, cfg):
        pids = scheduler_pids(system)
        if not pids:
            return {}
        time.sleep(cfg.idle_window / 4)  # let the start-up's last work drain
        cpu, t0 = sum(map(procs.cpu_seconds, pids)), clock()
        time.sleep(cfg.idle_window)
        used = sum(map(procs.cpu_seconds, pids)) - cpu
        return {"idle.scheduler_cpu": 100 * used / (clock() - t0)}


def efficiency(tasks, task_seconds, engines, wall):
    """The ideal wall time of ``tasks`` tasks of ``task_seconds`` each on ``engines`` engines, over ``wall``."""
    return tasks * task_seconds / engines / wall


BARE_LOOP = ("import sys\n"
             "namespace = {'__name__': '__main__'}\n"
             "exec(sys.argv[1], namespace)\n"
             "func, calls, seconds = namespace[sys.argv[2]], int(sys.argv[3]), float(sys.argv[4])\n"
             "print('ready', flush=True)\n"
             "sys.stdin.readline()\n"
             "for _ in range(calls):\n"
             "    func(seconds)\n"
             "print('done', flush=True)\n")


def bare_run(func, processes, calls, seconds):
    """The wall time of ``processes`` plain Python processes each calling ``func`` (one of
    bench.remote's) ``calls`` times with ``seconds``, released together: the same work with no
    cluster at all, the ceiling on this machine at this moment (steal, oversleep, wake-ups)."""
    workers = [subprocess.Popen([sys.executable, "-c", BARE_LOOP, remote.SOURCE, func.__name__, str(calls),
                                 str(seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
               for _ in range(processes)]
    try:
        for p in workers:
            p.stdout.readline()
        t0 = clock()
        for p in workers:
            p.stdin.write(b"go\n")
            p.stdin.flush()
        for p in workers:
            if p.stdout.readline() != b"done\n":
                raise RuntimeError(f"a plain {func.__name__} process ended early (exit status {p.wait()})")
        return clock() - t0
    finally:
        for p in workers:
            p.kill()
            p.wait()


class MapEfficiency(Workload):
    """N × 200 tasks of 5 ms in one load-balanced map: the ideal wall time over the real one.

    Ideal: every engine busy from the first instant to the last. The share of
    the machine's CPU its hypervisor stole during the map goes to the detail.
    With ``bare``, also the same figure for N plain processes each doing an
    engine's share side by side in the same round (``.bare``), and the
    system's over it (``.relative``).
    """

    func = None  # the task: one of bench.remote's functions of a number of seconds
    what = ""
    bare = False

    def metrics(self, cfg):
        found = [Metric(f"{self.name}.efficiency", f"{self.what} efficiency, {cfg.busy_seconds * 1e3:g} ms tasks",
                        "", "higher")]
        if self.bare:
            found += [Metric(f"{self.name}.bare", f"{self.what} efficiency of plain processes", "", "higher"),
                      Metric(f"{self.name}.relative", f"{self.what} efficiency over plain processes'", "", "higher")]
        return found

    def measure(self, system, cfg):
        n = system.engines * cfg.busy_per_engine
        check_count("tasks_map", system.tasks_map(self.func, [cfg.busy_seconds] * system.engines), system.engines)
        before, t0 = procs.machine_times(), clock()
        check_count("tasks_map", system.tasks_map(self.func, [cfg.busy_seconds] * n), n)
        wall = clock() - t0
        steal = procs.stolen_share(before, procs.machine_times())
        found = {f"{self.name}.efficiency": efficiency(n, cfg.busy_seconds, system.engines, wall),
                 "_detail": {"tasks": n, "wall": wall, "oversubscribed": system.engines > (os.cpu_count() or 1),
                             "steal": steal}}
        if self.bare:
            bare = efficiency(n, cfg.busy_seconds, system.engines,
                              bare_run(self.func, system.engines, cfg.busy_per_engine, cfg.busy_seconds))
            found.update({f"{self.name}.bare": bare,
                          f"{self.name}.relative": found[f"{self.name}.efficiency"] / bare})
        return found


class BusyEfficiency(MapEfficiency):
    """Tasks of 5 ms of CPU each. Where the engines outnumber the cores, the
    ideal cannot be reached and the figure says little (``oversubscribed``).
    No plain processes run beside it: the hypervisor's steal comes in bursts,
    so their second and the map's were hit unevenly (the ratio ranged
    0.79–1.04 over four rounds on a shared two-core machine)."""

    name = "busy"
    what = "busy"
    func = staticmethod(remote.spin)


class NappingEfficiency(MapEfficiency):
    """Tasks that sleep 5 ms instead: they need no core, so this shows how well
    the scheduler keeps N engines fed even where N outnumbers the cores. The
    engines' share of the work is left out; the scheduler's and the client's stays."""

    name = "nap"
    what = "napping"
    func = staticmethod(remote.nap)
    bare = True


class LegacyLoop(Workload):
    """0.10's result loop: ``tc.run(MapTask(f, (i,)))`` one by one, ``barrier``, ``get_task_result`` each.

    Against each peer's idiom for the same (Ray: ``ray.get([f.remote(i) ...])``).
    The phases (submit, wait, fetch) go to the detail.
    """

    name = "legacy"

    def metrics(self, cfg):
        return [Metric("legacy.rate", f"result loop over {cfg.legacy_tasks:,} tasks", "tasks/s", "higher")]

    def measure(self, system, cfg):
        system.legacy_loop(echo, 20)  # warm-up (and Unsupported before any timing)
        t0 = clock()
        results, phases = system.legacy_loop(echo, cfg.legacy_tasks)
        wall = clock() - t0
        if list(results) != list(range(cfg.legacy_tasks)):
            raise AssertionError(f"the result loop returned {list(results)[:4]}..., not 0, 1, 2, 3...")
        return {"legacy.rate": cfg.legacy_tasks / wall, "_detail": {"wall": wall, **phases}}


FLOOR_CORES = 16  # the host of the broadcast goal: its floor is reckoned for this many cores


def floor(busiest_cpu, all_cpu, cores=FLOOR_CORES):
    """The least time a call could take on ``cores`` cores, from the CPU it took here.

    Two bounds, the larger wins: the busiest process works through its share
    serially, and all the processes' work shares the cores. A host with
    fewer processes per core switches less, so the CPU figures, and the
    floor, are if anything high; the real time adds the waits between the
    processes' turns.
    """
    return max(busiest_cpu, all_cpu / cores)


class Broadcast(Latency):
    """The broadcast no-op, with the scheduler's CPU per call and per engine per call, and its ``floor``."""

    def __init__(self):
        super().__init__("broadcast", "broadcast no-op to all engines", "tiny_all", scheduler=True)

    def metrics(self, cfg):
        return [*super().metrics(cfg),
                Metric("broadcast.scheduler_cpu_per_engine", "broadcast no-op: scheduler CPU per engine", "µs",
                       "lower"),
                Metric("broadcast.busiest_cpu_per_engine",
                       "broadcast no-op: CPU per engine of the busiest scheduler process", "µs", "lower"),
                Metric("broadcast.floor", f"broadcast no-op: floor on {FLOOR_CORES} cores", "µs", "lower")]

    def measure(self, system, cfg):
        values = super().measure(system, cfg)
        if "broadcast.scheduler_cpu" in values:
            values["broadcast.scheduler_cpu_per_engine"] = values["broadcast.scheduler_cpu"] / system.engines
            # one process does its share serially, whatever the cores: the bound on a broadcast's time
            each = values["_detail"]["scheduler_cpu_us_each"]
            values["broadcast.busiest_cpu_per_engine"] = max(each.values()) / system.engines
            values["broadcast.floor"] = floor(max(each.values()), values["broadcast.cpu"])
        return values


STARTUP = Metric("startup.ready", "start-up to N engines ready", "s", "lower")

WORKLOADS = [
    EngineMemory(),
    IdleScheduler(),
    TaskThroughput("one_by_one", "{n} tiny tasks one by one", "tasks_run", "tasks", cpu=True),
    TaskThroughput("bulk_map", "{n} tiny tasks in one map", "tasks_map", "tasks", cpu=True),
    TaskThroughput("paced", "{n} tiny tasks at {rate:g}/s", "tasks_run", "paced_tasks", cpu=True, rate="paced_rate"),
    BusyEfficiency(),
    NappingEfficiency(),
    Latency("lb", "one load-balanced round trip", "task_one", args=(noop,)),
    Broadcast(),
    LegacyLoop(),
]


def chosen(cfg):
    """The workloads ``cfg`` asks for, in their order; the engines' memory always (it costs a read of /proc,
    and the sweep needs it to know whether more engines fit)."""
    return [w for w in WORKLOADS if cfg.only is None or w.name in cfg.only or w.name == EngineMemory.name]


def all_metrics(cfg):
    return [STARTUP] + [m for w in chosen(cfg) for m in w.metrics(cfg)]
