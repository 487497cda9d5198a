"""python -m bench [--quick] [--only kernel | --systems kernel,ipyparallel,dask,ray] [--sizes 1,16,128]

Measures the loopback floor, then each system in turn (start-up, latency,
bandwidth, map, load-balanced tasks, and the scheduler's memory after many
tasks, where the system has them), prints one table and writes
bench/results/<timestamp>.json.
"""

import argparse
import sys
from datetime import datetime

from bench import floor, report, systems
from bench.workloads import Config, all_metrics, run_system


def _sizes(text):
    try:
        sizes = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes are MB numbers separated by commas, not {text!r}") from None
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError("sizes must be positive")
    return [int(s) if s == int(s) else s for s in sizes]


def system_names(text):
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [n for n in names if n not in systems.SYSTEMS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"systems are among {', '.join(systems.SYSTEMS)}; got {text!r}")
    return names


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    p.add_argument("--quick", action="store_true", help="fewer repetitions: a smoke run")
    chosen = p.add_mutually_exclusive_group()
    main = [name for name in systems.SYSTEMS if name not in systems.SCALE_ONLY]
    chosen.add_argument("--systems", type=system_names, default=main,
                        help=f"comma-separated, default: {','.join(main)} (also: {','.join(systems.SCALE_ONLY)})")
    chosen.add_argument("--only", type=system_names, dest="systems", help="the same as --systems")
    p.add_argument("--sizes", type=_sizes, default=[1, 16, 128], help="array sizes in MB (default 1,16,128)")
    p.add_argument("--no-floor", dest="floor", action="store_false", help="skip the raw TCP/TLS floor")
    return p.parse_args(argv)


def log(text):
    print(text, file=sys.stderr, flush=True)


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    cfg = Config(quick=args.quick, sizes=args.sizes)
    run = {
        "started": datetime.now().isoformat(timespec="seconds"),
        "machine": report.machine(),
        "load_before": report.load_average(),
        "options": {"quick": args.quick, "systems": args.systems, "sizes": args.sizes,
                    "memory_tasks": cfg.memory_tasks},
        "systems": {},
    }
    floor_options = dict(echo_calls=500 if args.quick else 2000, tls_reps=2 if args.quick else 5)
    if args.floor:
        log("floor: raw TCP and TLS over loopback")
        run["floor_before"] = floor.measure(**floor_options)
    for name in args.systems:
        system = systems.load(name)
        note = system.available()
        if note:
            log(f"{name}: skipped: {note}")
            run["systems"][name] = {"available": False, "note": note}
            continue
        log(f"{name}: running")
        metrics, details = run_system(system, cfg, log=log)
        run["systems"][name] = {"available": True, "version": system.version(), "metrics": metrics,
                                "details": details}
    if args.floor:
        log("floor: again, after the systems")
        run["floor_after"] = floor.measure(**floor_options)
        run["floor"] = floor.best(run["floor_before"], run["floor_after"])
    run["finished"] = datetime.now().isoformat(timespec="seconds")
    run["load_after"] = report.load_average()
    metrics = all_metrics(cfg)
    run["ratios"] = report.ratios(run, metrics)
    run["goals"] = report.goals(run)
    text = report.render(run, metrics)
    run["table"] = text
    path = report.write_json(run)
    print(text)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
