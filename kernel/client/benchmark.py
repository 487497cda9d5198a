"""``mec.benchmark()``: the legacy quick measure of a cluster's latency and push bandwidth."""

import timeit

import numpy


def measure(mec, ids, push_size=10000):
    """Latency of execute('pass') and push bandwidth, on engine ``ids[0]`` and on all of ``ids``.

    ``push_size`` is the length of the pushed array of float64. The full
    comparison with other systems is ``python -m bench``.
    """
    single = ids[0]
    data = numpy.zeros(push_size)
    megabytes = data.nbytes / 1e6

    def best(stmt):
        return min(timeit.repeat(stmt, number=10, repeat=3)) / 10

    return {
        "single_engine_latency": (1000 * best(lambda: mec.execute("pass", targets=single, block=True)), "msec"),
        "all_engine_latency": (1000 * best(lambda: mec.execute("pass", targets=ids, block=True)), "msec"),
        "single_engine_push": (megabytes / best(lambda: mec.push({"x": data}, targets=single, block=True)), "MB/sec"),
        "all_engine_push": (len(ids) * megabytes / best(lambda: mec.push({"x": data}, targets=ids, block=True)), "MB/sec"),
    }
