"""The walkthrough: a local cluster of 4 engines, the seed examples, then shutdown.

Run it with ``python -m kernel.demo`` (``make demo`` does). Every step prints
what it did and what came back.
"""

import argparse
import sys
import time

from kernel import client
from kernel.cluster import Cluster


def step(title):
    print(f"\n== {title}")


def multiengine(mec):
    step("the engines")
    print("mec.get_ids() ->", mec.get_ids())

    step("execute code on every engine")
    print(mec.execute("import os, socket\npid = os.getpid()\nprint('engine', id, 'pid', pid)"))

    step("push and pull Python objects (functions and closures included)")
    scale = 10
    mec.push(dict(a=5, f=lambda x: x * scale))
    print("mec.pull('a') ->", mec.pull("a"))
    mec.execute("b = f(a + id)")
    print("mec['b'] ->", mec["b"])

    step("scatter and gather")
    mec.scatter("x", list(range(16)))
    mec.execute("y = [xi ** 2 for xi in x]")
    print("mec.pull('x') ->", mec.pull("x"))
    print("mec.gather('y') ->", mec.gather("y"))

    step("parallel map (not load balanced)")
    print("mec.map(lambda x: x ** 10, range(8)) ->", mec.map(lambda x: x ** 10, range(8)))

    @mec.parallel()
    def square(x):
        return x * x

    print("@mec.parallel() square(range(8)) ->", square(range(8)))

    step("non-blocking execution")
    pending = mec.execute("import time; time.sleep(0.2); c = id * 100", block=False)
    print("pending.get_result(block=False) ->", pending.get_result(block=False))
    pending.get_result()
    print("after waiting: mec.pull('c') ->", mec.pull("c"))

    step("errors come back as a CompositeError")
    try:
        mec.execute("1/0", targets=[0, 1])
    except client.CompositeError as e:
        print(e)

    step("numpy arrays travel as raw buffers")
    import numpy

    array = numpy.arange(1_000_000, dtype=numpy.float64)
    started = time.perf_counter()
    mec.push({"big": array}, targets=0)
    back = mec.pull("big", targets=0)[0]
    elapsed = time.perf_counter() - started
    print(f"8 MB pushed and pulled back in {elapsed * 1000:.1f} ms; equal: {bool((back == array).all())}")


def tasks(tc):
    step("a StringTask: push, execute, pull")
    taskid = tc.run(client.StringTask("b = a * 2", push=dict(a=21), pull="b"))
    result = tc.get_task_result(taskid, block=True)
    print(f"tc.get_task_result({taskid}, block=True) -> {result}; tr.ns.b = {result.ns.b}"
          f" (ran on engine {result.engineid})")

    step("MapTasks, load balanced")
    ids = [tc.run(client.MapTask(pow, (2, n))) for n in range(8)]
    tc.barrier(ids)
    print("2 ** n ->", [tc.get_task_result(i) for i in ids])

    step("tc.map over 1,000 items, dynamically load balanced")
    started = time.perf_counter()
    squares = tc.map(lambda x: x * x, range(1000))
    print(f"sum of squares = {sum(squares)} in {time.perf_counter() - started:.2f} s")

    step("a failing task, retried, then its recovery task")
    flaky = client.StringTask("raise RuntimeError('bad input')", retries=1,
                              recovery_task=client.StringTask("answer = 'recovered'", pull="answer"))
    print(tc.get_task_result(tc.run(flaky), block=True))
    print("tc.queue_status():")
    print(tc.queue_status())


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kernel.demo", description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=4, help="number of engines (default 4)")
    args = parser.parse_args(argv)
    print(f"starting a local cluster of {args.n} engines (controller + engines over TLS) ...")
    started = time.perf_counter()
    with Cluster(n=args.n) as cluster:
        print(f"cluster ready in {time.perf_counter() - started:.1f} s; logs in {cluster.logdir}")
        multiengine(cluster.mec())
        tasks(cluster.tc())
        print("\nshutting the cluster down")
    print("done: every process stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
