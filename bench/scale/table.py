"""The scale bench's printed tables: one row per system and engine count, cells over the rounds."""

import statistics

from bench import report
from bench.scale.sweep import values
from bench.scale.workloads import FLOOR_CORES

# (metric key, column header, unit); the units are those of bench.report.fmt, "" for a ratio
COLUMNS = [
    ("startup.ready", "start-up s", "s"),
    ("one_by_one.rate", "one by one /s", "tasks/s"),
    ("bulk_map.rate", "bulk map /s", "tasks/s"),
    ("busy.efficiency", "busy eff.", ""),
    ("nap.efficiency", "napping eff.", ""),
    ("nap.relative", "napping eff. ÷ bare", ""),
    ("lb.median", "LB RTT µs", "µs"),
    ("broadcast.median", "broadcast µs", "µs"),
    ("broadcast.scheduler_cpu", "sched. CPU µs/broadcast", "µs"),
    ("broadcast.scheduler_cpu_per_engine", "sched. CPU µs/broadcast/engine", "µs"),
    ("broadcast.busiest_cpu_per_engine", "busiest sched. process CPU µs/broadcast/engine", "µs"),
    ("broadcast.floor", f"broadcast floor µs on {FLOOR_CORES} cores", "µs"),
    ("one_by_one.scheduler_cpu", "sched. CPU µs/task, one by one", "µs"),
    ("bulk_map.scheduler_cpu", "sched. CPU µs/task, map", "µs"),
    ("paced.scheduler_cpu", "sched. CPU µs/task, 250/s", "µs"),
    ("one_by_one.client_cpu", "client CPU µs/task, one by one", "µs"),
    ("one_by_one.all_cpu", "all CPU µs/task, one by one", "µs"),
    ("paced.all_cpu", "all CPU µs/task, 250/s", "µs"),
    ("idle.scheduler_cpu", "sched. idle CPU %", "%"),
    ("engine.rss", "engine RSS MB", "MB"),
    ("legacy.rate", "result loop /s", "tasks/s"),
]


def fmt(value, unit):
    return f"{value:.2f}" if unit == "" else report.fmt(value, unit)


def spread(found, unit):
    """``median (min–max)`` of a cell's values over the rounds; one value alone; '–' for none."""
    if not found:
        return "–"
    middle = fmt(statistics.median(found), unit)
    low, high = fmt(min(found), unit), fmt(max(found), unit)
    return middle if len(found) == 1 or low == high else f"{middle} ({low}–{high})"


def groups(runs):
    """``(system, engines)`` pairs that ran, in the order first run."""
    return list(dict.fromkeys((r["system"], r["engines"]) for r in runs if "metrics" in r))


def loads(runs, system, engines):
    """The 1-minute load averages before and after each round, ``a→b`` joined by commas."""
    out = []
    for r in runs:
        if r["system"] == system and r["engines"] == engines and r.get("load_before"):
            out.append(f"{r['load_before'][0]:.1f}→{(r.get('load_after') or r['load_before'])[0]:.1f}")
    return ", ".join(out)


def table(runs, sep=" | "):
    rows = [["system", "N", *[header for _, header, _ in COLUMNS], "load avg."]]
    for system, n in groups(runs):
        rows.append([system, str(n), *[spread(values(runs, system, n, key), unit) for key, _, unit in COLUMNS],
                     loads(runs, system, n)])
    return report.align(rows, left=2, sep=sep)


def notes(runs):
    """Why a system or an engine count was not run, and what failed, once each."""
    out = []
    for r in runs:
        if "note" in r:
            out.append(f"{r['system']} × {r['engines']}: not run: {r['note']}")
        for key, entry in r.get("metrics", {}).items():
            if "error" in entry:
                out.append(f"{r['system']} × {r['engines']}: {key}: {entry['error']}")
    return list(dict.fromkeys(out))


def per_round(runs, key, top, bottom):
    """Round by round, ``key`` of ``top`` over ``key`` of ``bottom`` (each a ``(system, engines)``), where both ran."""
    out = []
    for rnd in sorted({r["round"] for r in runs}):
        this = [r for r in runs if r["round"] == rnd]
        x, y = values(this, *top, key), values(this, *bottom, key)
        if x and y and y[0]:
            out.append(x[0] / y[0])
    return out


def legacy_lines(runs):
    """The result loop, each system's phases, at each engine count where kernel ran it."""
    lines = []
    for system, n in groups(runs):
        phases = [r["details"]["legacy"] for r in runs
                  if r["system"] == system and r["engines"] == n and "legacy" in r.get("details", {})]
        if not phases:
            continue
        names = [k for k in phases[0] if k != "wall"]
        lines.append(f"  {system} × {n}: {spread(values(runs, system, n, 'legacy.rate'), 'tasks/s')} tasks/s; "
                     + ", ".join(f"{k} {spread([p[k] for p in phases], 's')} s" for k in names))
    return lines


QUIET_STEAL = 0.01  # of the machine's CPU time taken by its hypervisor during a busy map


def _unstolen(runs):
    """The runs whose busy map the hypervisor left alone: on a shared virtual machine, steal
    lengthens the map's wall time whatever the system does."""
    return [r for r in runs if (r.get("details", {}).get("busy", {}).get("steal") or 0) < QUIET_STEAL]


def goal_lines(runs):
    counts = sorted({n for s, n in groups(runs) if s == "kernel"})
    lines = []
    if len(counts) > 1:
        low, high = counts[0], counts[-1]
        for key, what in (("paced.scheduler_cpu", "at one rate"), ("one_by_one.scheduler_cpu", "one by one"),
                          ("bulk_map.scheduler_cpu", "bulk map")):
            found = per_round(runs, key, ("kernel", high), ("kernel", low))
            if found:
                lines.append(f"  kernel controller CPU per tiny task ({what}) at {high} engines ÷ at {low}: "
                             f"{spread(found, '')} (goal ≤ 1.2 at 100 ÷ 2)")
    if 2 in counts:
        found = values(runs, "kernel", 2, "busy.efficiency")
        if found:
            quiet = values(_unstolen(runs), "kernel", 2, "busy.efficiency")
            lines.append(f"  kernel busy efficiency at 2 engines: {spread(found, '')}; in the {len(quiet)} of "
                         f"{len(found)} rounds with under {QUIET_STEAL:.0%} steal: {spread(quiet, '')} (goal ≥ 0.95)")
        found = per_round(runs, "legacy.rate", ("kernel", 2), ("ray", 2))
        if found:
            lines.append(f"  result loop at 2 engines, kernel ÷ Ray, side by side: {spread(found, '')} (goal ≥ 1.5)")
        found = values(runs, "kernel", 2, "startup.ready")
        if found:
            lines.append(f"  kernel start-up, 2 engines: {spread(found, 's')} s (goal ≤ 0.5 s)")
    for n in counts:
        found = values(runs, "kernel", n, "nap.relative")
        if found:
            lines.append(f"  kernel napping efficiency at {n} engines over plain processes': {spread(found, '')} "
                         "(the scheduler's share of busy efficiency, whatever the cores)")
    if counts and counts[-1] > 2:
        high = counts[-1]
        for system in ("kernel", "kernel-relays"):
            found = values(runs, system, high, "broadcast.median")
            if found:
                lines.append(f"  {system} broadcast no-op to {high} engines: {spread(found, 'µs')} µs "
                             f"(goal ≤ 2,000 µs at 100 engines on 16 cores)")
            busiest = [v * high for v in values(runs, system, high, "broadcast.busiest_cpu_per_engine")]
            if busiest:
                lines.append(f"  {system} busiest scheduling process's CPU per broadcast to {high} engines: "
                             f"{spread(busiest, 'µs')} µs (its serial share: the floor of the broadcast's "
                             "time on any number of cores)")
            floor = values(runs, system, high, "broadcast.floor")
            if floor:
                lines.append(f"  {system} broadcast's floor on {FLOOR_CORES} cores at {high} engines: "
                             f"{spread(floor, 'µs')} µs (the larger of that share and all the processes' CPU "
                             f"÷ {FLOOR_CORES})")
        found = values(runs, "kernel", high, "startup.ready")
        if found:
            lines.append(f"  kernel start-up, {high} engines: {spread(found, 's')} s (goal ≤ 2 s at 100 on 16 cores)")
    return lines


def render(run):
    m = run["machine"]
    runs = run["runs"]
    out = [f"kernel scale bench, {run['started'][:19]}: {m.get('cpu', m['machine'])}, {m['cpus']} cores, "
           f"{m.get('memory_gib', '?')} GiB, Python {m['python']}, {run['options']['rounds']} round(s)"
           + (" (quick)" if run["options"]["quick"] else "")]
    if run.get("versions"):
        out.append("versions: " + ", ".join(f"{s} {v or '?'}" for s, v in run["versions"].items()))
    out += ["", *table(runs), ""]
    out.append("Cells: median (min–max) over the rounds. Scheduler CPU: the controller (kernel; with its relays, "
               "kernel-relays), the scheduler process (dask), the hub and its schedulers (ipyparallel), gcs_server + "
               "raylet (Ray); busiest: the one of those processes that spent the most; all: every process of the "
               "cluster and the client; idle time included. Busy efficiency where N exceeds the cores: oversubscribed. "
               "Napping: the same map with tasks that sleep instead, which need no core. ÷ bare: over N plain processes doing "
               "the same work side by side in the same round.")
    lines = legacy_lines(runs)
    if lines:
        out += ["", "result loop (submit one by one, wait for all, fetch each), phases:", *lines]
    lines = goal_lines(runs)
    if lines:
        out += ["", "goals:", *lines]
    lines = notes(runs)
    if lines:
        out += ["", "notes:", *[f"  {n}" for n in lines]]
    return "\n".join(out)
