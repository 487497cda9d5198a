"""Small timing helpers shared by the floor, the systems and the workloads."""

import statistics
import time

MB = 1 << 20  # sizes and rates are in MB of 2**20 bytes

clock = time.perf_counter


def percentile(values, q):
    """The ``q``-th percentile (0-100) by the nearest-rank rule."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def latency_stats(seconds):
    """Median, p99, min and mean of a list of durations, in microseconds."""
    us = [s * 1e6 for s in seconds]
    return {
        "median": statistics.median(us),
        "p99": percentile(us, 99),
        "min": min(us),
        "mean": statistics.fmean(us),
        "n": len(us),
    }


def time_calls(call, n, warmup=0):
    """Call ``call()`` ``warmup`` times untimed, then ``n`` times; return durations."""
    for _ in range(warmup):
        call()
    out = []
    for _ in range(n):
        t0 = clock()
        call()
        out.append(clock() - t0)
    return out


def wait_for(condition, timeout, interval=0.01, what="condition"):
    """Poll ``condition()`` until truthy; raise TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
