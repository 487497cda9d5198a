"""One client of the chaos run (test_chaos.py), as a user's script: it submits its share of tasks, then exits
or goes idle.

    python chaos_client.py KIND START STOP OUT

It submits ``square(i)`` for ``i`` in ``range(START, STOP)`` to the controller of ``$IPYTHONDIR`` and writes
one JSON line per batch to OUT: ``{"ids": [[i, taskid], ...]}`` for the ids ``run()`` (or a non-blocking
mapper) returned, ``{"checked": n}`` for the values a blocking map returned and this script checked,
then ``{"done": KIND}``. The kinds:

- ``window``: ``tc.run`` one task at a time, in batches; before each batch it waits for the batch two
  back (``barrier``), so it keeps submitting for as long as the run lasts; then it exits.
- ``map``: blocking ``tc.mapper(retries=...).map`` (``tc.map`` with retries) in batches; it checks every
  value, then exits.
- ``exit``: ``tc.run`` every task at once and exits at once (the script's end hands the unanswered ones on).
- ``idle``: half through ``tc.mapper(block=False).map``, half through ``tc.run``, then it makes no further
  call and waits until its stdin closes, then exits.

A call that meets a controller killed or not back yet (``ConnectionError``) is repeated, as the
durability guide says it can be; a ``run()`` that raised returned no id, so nothing is recorded for it.
"""

import json
import sys
import time

from kernel.client import MapTask, TaskClient

BATCH = 100
RETRIES = 10  # each engine SIGKILL costs the task it was running one retry
AWAY_MOST = 120.0  # seconds a call is repeated while the controller is away


def square(i):
    return i * i


def again(call):
    """``call()``, repeated with backoff while the controller is away."""
    deadline, delay = time.monotonic() + AWAY_MOST, 0.05
    while True:
        try:
            return call()
        except ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)  # the backoff of a retry, not a wait for an event
            delay = min(1.0, 2 * delay)


def batches(start, stop):
    return [range(i, min(i + BATCH, stop)) for i in range(start, stop, BATCH)]


def run_each(tc, items):
    return [[i, again(lambda: tc.run(MapTask(square, (i,), retries=RETRIES)))] for i in items]


def main(tc, kind, start, stop, out):
    def record(**entry):
        out.write(json.dumps(entry) + "\n")
        out.flush()

    if kind == "window":
        sent = []
        for items in batches(start, stop):
            if len(sent) >= 2:
                behind = [taskid for _, taskid in sent[-2]]
                again(lambda: tc.barrier(behind))
            sent.append(run_each(tc, items))
            record(ids=sent[-1])
    elif kind == "map":
        mapper = tc.mapper(retries=RETRIES)
        for items in batches(start, stop):
            values = again(lambda: mapper.map(square, items))
            assert values == [square(i) for i in items], (items, values)
            record(checked=len(values))
    elif kind == "exit":
        record(ids=run_each(tc, range(start, stop)))
    elif kind == "idle":
        middle = (start + stop) // 2
        mapper = tc.mapper(block=False, retries=RETRIES)
        taskids = again(lambda: mapper.map(square, range(start, middle)))
        record(ids=[list(pair) for pair in zip(range(start, middle), taskids)])
        record(ids=run_each(tc, range(middle, stop)))
    else:
        raise SystemExit(f"unknown kind {kind!r}: window, map, exit or idle")
    record(done=kind)
    if kind == "idle":
        sys.stdin.read()  # idle, holding the connection, until the test closes our stdin


if __name__ == "__main__":
    client = again(TaskClient)  # a global, as in most scripts: it lives until the script ends
    with open(sys.argv[4], "w") as output:
        main(client, sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), output)
