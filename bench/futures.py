"""python -m bench.futures [--tasks N] [--calls N]: what a future costs beside the legacy calls.

On a local cluster of three engines (``kernel.cluster.Cluster``), each figure
the best of five rounds, in microseconds:

- per task, submitting N tiny tasks and waiting for all: ``tc.run`` then
  ``tc.barrier`` (the legacy way) against ``tc.submit`` then
  ``concurrent.futures.wait`` (a future per task, completed by the reader
  thread), and the client's own time for the submitting loop of each;
- one task's round trip: ``tc.run(task, block=True)`` against
  ``tc.submit(...).result()``;
- the legacy blocking calls ``mec.execute('pass')`` (on one engine), ``tc.run`` +
  ``get_task_result(block=True)``, with no future pending (as every legacy
  script runs them) and with one pending (the reader thread reading for them);
- making a PendingResult (now a ``concurrent.futures.Future``), which every
  multiengine call does.

Prints a table and writes bench/results/futures-<timestamp>.json.
"""

import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench import report

ROUNDS = 5


def best(measure, rounds=ROUNDS):
    """The least of ``rounds`` calls of ``measure()`` (each returns µs)."""
    return min(measure() for _ in range(rounds))


def per_item(n, body):
    """µs per item of ``body()`` (which handles ``n`` items)."""
    started = time.perf_counter()
    body()
    return (time.perf_counter() - started) * 1e6 / n


def latency(calls, call):
    """The median µs of ``calls`` calls of ``call()``."""
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1e6)
    return statistics.median(times)


def measure(tasks, calls):
    from kernel import client
    from kernel.client.results import PendingResult
    from kernel.cluster import Cluster

    out = {}
    with Cluster(n=3) as cluster:
        mec, tc = cluster.mec(), cluster.tc()
        task = client.MapTask(abs, (-1,))

        def legacy():
            ids = [tc.run(task) for _ in range(tasks)]
            tc.barrier(ids)

        def futures():
            fs = [tc.submit(abs, -1) for _ in range(tasks)]
            concurrent.futures.wait(fs)

        legacy()
        futures()  # warm both paths
        out["run + barrier, per task"] = best(lambda: per_item(tasks, legacy))
        out["submit + wait, per task"] = best(lambda: per_item(tasks, futures))

        def loop_alone(submit, wait):
            made = []
            us = per_item(tasks, lambda: made.extend(submit() for _ in range(tasks)))
            wait(made)  # before the next round
            return us

        out["run loop alone, per task"] = best(lambda: loop_alone(lambda: tc.run(task), tc.barrier))
        out["submit loop alone, per task"] = best(
            lambda: loop_alone(lambda: tc.submit(abs, -1), concurrent.futures.wait))
        out["run(block=True) round trip"] = best(lambda: latency(calls, lambda: tc.run(task, block=True)))
        out["submit().result() round trip"] = best(lambda: latency(calls, lambda: tc.submit(abs, -1).result()))

        out["mec.execute('pass'), no future pending"] = best(
            lambda: latency(calls, lambda: mec.execute("pass", targets=0)))
        out["run + get_task_result(block=True), no future pending"] = best(
            lambda: latency(calls, lambda: tc.get_task_result(tc.run(task), block=True)))
        # the same calls while a future of the same client is pending, so that its reader
        # thread reads their replies: a call held on engine 2 (the timed calls go to
        # engine 0), then a task held on one engine (the timed tasks take the others)
        release = Path(tempfile.mkdtemp()) / "release"
        held = mec.execute(f"import os, time\nwhile not os.path.exists({str(release)!r}): time.sleep(0.01)",
                           targets=2, block=False)
        held.done()  # arms it
        out["mec.execute('pass'), a future pending"] = best(
            lambda: latency(calls, lambda: mec.execute("pass", targets=0)))
        release.touch()
        held.result()
        release.unlink()
        held = tc.submit(_wait_for, str(release))
        out["run + get_task_result(block=True), a future pending"] = best(
            lambda: latency(calls, lambda: tc.get_task_result(tc.run(task), block=True)))
        release.touch()
        held.result()
        out["making a PendingResult"] = best(lambda: per_item(
            10000, lambda: [PendingResult(mec, (), None) for _ in range(10000)]))
    return out


def _wait_for(path):
    import os
    import time

    while not os.path.exists(path):
        time.sleep(0.01)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.futures", description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", type=int, default=2000, help="tasks per round of the per-task rows (default 2000)")
    p.add_argument("--calls", type=int, default=300, help="calls per round of the latency rows (default 300)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    figures = measure(args.tasks, args.calls)
    width = max(map(len, figures))
    print(f"{'what':<{width}}  µs")
    for name, value in figures.items():
        print(f"{name:<{width}}  {value:8.1f}")
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    path = results / f"futures-{datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps({"machine": report.machine(), "load": report.load_average(),
                                "tasks": args.tasks, "calls": args.calls, "us": figures}, indent=2))
    print(f"written to {os.path.relpath(path)}")


if __name__ == "__main__":
    main()
