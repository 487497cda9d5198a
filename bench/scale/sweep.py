"""The sweep: every engine count, every system at it, round after round, each run on a fresh cluster.

Engine counts are the outer loop, so that the systems measured at one count
(kernel's result loop beside Ray's, say) ran minutes apart, not an hour.
"""

from datetime import datetime

from bench import report, systems
from bench.scale.workloads import STARTUP, all_metrics, chosen
from bench.timing import MB
from bench.workloads import cluster_failed, run_workload

DEFAULT_ENGINES = [2, 8, 14, 32, 100]
MEMORY_SHARE = 0.8  # of the memory available, the most a cluster's engines may take
FIRST_GUESS = 250 * MB  # an engine's memory until one of that system has been measured


def available_memory(meminfo="/proc/meminfo"):
    """``MemAvailable`` in bytes, or None where /proc/meminfo does not say."""
    try:
        with open(meminfo) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_note(engines, engine_bytes, available, share=MEMORY_SHARE):
    """None if ``engines`` engines of ``engine_bytes`` each fit in ``share`` of ``available``; else why not."""
    if available is None:
        return None
    need = engines * engine_bytes
    if need <= share * available:
        return None
    return (f"{engines} engines need about {need / 2**30:.1f} GiB ({engine_bytes / MB:.0f} MB each), "
            f"over {share:.0%} of the {available / 2**30:.1f} GiB available")


def run_one(system, cfg, log):
    """Start ``system`` (its scheduler apart from this process), run every workload, stop it.

    Returns ``(metrics, details)`` as ``bench.workloads.run_system`` does.
    """
    metrics, details = {}, {}
    try:
        details["startup"] = system.start_apart()
        metrics[STARTUP.key] = {"value": details["startup"]["ready"]}
        log(f"  {system.name} × {system.engines}: started in {details['startup']['ready']:.2f} s")
        for workload in chosen(cfg):
            run_workload(system, workload, cfg, metrics, details, log)
    except Exception as e:
        cluster_failed(metrics, all_metrics(cfg), e, log, f"{system.name} × {system.engines}")
    finally:
        system.stop()
    return metrics, details


def sweep(names, engine_counts, rounds, cfg, log):
    """Every run, in the order run: ``[{"system", "engines", "round", "metrics", "details", "load_before", ...}]``.

    A system that cannot run here, or whose engines would not fit in memory
    (estimated from the most its engines took at a smaller count in this
    sweep), gets an entry with a ``note`` instead.
    """
    runs, engine_bytes, versions = [], {}, {}
    for rnd in range(1, rounds + 1):
        for n in engine_counts:
            for name in names:
                system = systems.load(name)
                entry = {"system": name, "engines": n, "round": rnd}
                note = system.available() or memory_note(n, engine_bytes.get(name, FIRST_GUESS), available_memory())
                if note:
                    log(f"{name} × {n}: skipped: {note}")
                    runs.append({**entry, "note": note})
                    continue
                versions.setdefault(name, system.version())
                system.engines = n
                log(f"{name} × {n} (round {rnd}/{rounds}), load average {report.load_average()}")
                entry.update(started=datetime.now().isoformat(timespec="seconds"), load_before=report.load_average())
                entry["metrics"], entry["details"] = run_one(system, cfg, log)
                entry["load_after"] = report.load_average()
                rss = entry["metrics"].get("engine.rss", {}).get("value")
                if rss:
                    engine_bytes[name] = max(engine_bytes.get(name, 0), rss * MB)
                runs.append(entry)
    return runs, versions


def values(runs, system, engines, key):
    """Every round's value of ``key`` for ``system`` at ``engines``."""
    out = []
    for r in runs:
        if r["system"] == system and r["engines"] == engines:
            value = r.get("metrics", {}).get(key, {}).get("value")
            if value is not None:
                out.append(value)
    return out
