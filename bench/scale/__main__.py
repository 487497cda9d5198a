"""python -m bench.scale [--engines 2,8,14,32,100] [--systems kernel,dask,ipyparallel,ray] [--rounds 1] [--only broadcast,idle] [--quick]

Starts each system with N engines (one process per engine; the scheduler in
processes of its own) for each N, and measures start-up, tiny tasks one by
one and in one map, busy efficiency with 5 ms tasks (spinning; and sleeping,
beside plain processes sleeping as long), one load-balanced round trip, a
broadcast no-op, the scheduler's CPU per tiny task and with idle engines,
the engines' memory, and 0.10's result loop. Prints one table and
writes bench/results/scale-<timestamp>.json.
"""

import argparse
import signal
import sys
from datetime import datetime

from bench import report, systems
from bench.__main__ import system_names, log
from bench.scale.sweep import DEFAULT_ENGINES, available_memory, sweep
from bench.scale.table import render
from bench.scale.workloads import WORKLOADS, ScaleConfig


def engine_counts(text):
    """``"2,8,14"`` → ``[2, 8, 14]``: positive whole numbers, in the order given, each once."""
    try:
        counts = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"engines are whole numbers separated by commas, not {text!r}") from None
    if not counts or any(n < 1 for n in counts):
        raise argparse.ArgumentTypeError(f"engine counts must be 1 or more, not {text!r}")
    return list(dict.fromkeys(counts))


def workload_names(text):
    """``"broadcast,idle"`` → those names, each a workload of the scale bench."""
    known = [w.name for w in WORKLOADS]
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"unknown workload {', '.join(unknown) or repr(text)}: "
                                         f"choose from {', '.join(known)}")
    return list(dict.fromkeys(names))


def positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, not {text!r}")
    return value


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[1])
    p.add_argument("--engines", type=engine_counts, default=DEFAULT_ENGINES,
                   help=f"engine counts, comma-separated (default {','.join(map(str, DEFAULT_ENGINES))}; "
                        "a count whose engines would not fit in memory is skipped)")
    p.add_argument("--systems", type=system_names, default=list(systems.SYSTEMS),
                   help=f"comma-separated, default: {','.join(systems.SYSTEMS)} (those installed)")
    p.add_argument("--rounds", type=positive, default=1, help="repeat the whole sweep this many times (default 1)")
    p.add_argument("--tasks", type=positive, default=None, help="tiny tasks per throughput row (default 5000)")
    p.add_argument("--only", type=workload_names, default=None,
                   help="run only these workloads, comma-separated (start-up and the engines' memory are always "
                        "measured): "
                        + ", ".join(w.name for w in WORKLOADS))
    p.add_argument("--quick", action="store_true", help="fewer tasks and calls: a smoke run")
    return p.parse_args(argv)


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    # SIGTERM stops the sweep as Ctrl-C would: the running cluster is stopped on the way out
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    cfg = ScaleConfig(quick=args.quick, only=args.only)
    if args.tasks:
        cfg.tasks = cfg.legacy_tasks = args.tasks
    memory = available_memory()
    run = {
        "started": datetime.now().isoformat(timespec="seconds"),
        "machine": {**report.machine(), "memory_gib": round(memory / 2**30, 1) if memory else None},
        "options": {"engines": args.engines, "systems": args.systems, "rounds": args.rounds, "quick": args.quick,
                    "only": args.only,
                    "tasks": cfg.tasks, "busy_per_engine": cfg.busy_per_engine, "busy_seconds": cfg.busy_seconds,
                    "legacy_tasks": cfg.legacy_tasks, "latency_calls": cfg.latency_calls},
    }
    run["runs"], run["versions"] = sweep(args.systems, args.engines, args.rounds, cfg, log)
    run["finished"] = datetime.now().isoformat(timespec="seconds")
    text = render(run)
    run["table"] = text
    path = report.write_json(run, prefix="scale-")
    print(text)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
