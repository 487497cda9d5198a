"""python -m bench.scheduler [--tasks 20000] [--engines 2,100] [--schemes leastload] [--repeat 5]

The task scheduler alone, on a fake clock: the CPU time it spends per task
from submission through dispatch to the engine's report, at a few engine
counts. The controller runs it for every task on its one thread, so this is
the scheduler's share of the controller's cost per task; it should not grow
with the number of engines.

Workloads (each task counted once, however many attempts it takes):

- ``plain``: tasks anyone may run;
- ``declined``: each task's ``depend()`` declines it on the first engine it
  is sent to, and it runs on another (a restricted task: it avoids one engine);
- ``retried``: each task fails once with a retry left, and runs elsewhere;
- ``follow``: pairs, the second following the first to its engine.

Two ways of feeding them: ``queued`` submits every task first (engines
always full, the queue long), ``stream`` keeps at most ``WINDOW`` tasks
outstanding (engines mostly idle: the case where placing a restricted task
could cost a look at every engine). The figure is the best of ``--repeat``
runs of CPU time (``time.thread_time``), in microseconds per task.
"""

import argparse
import random
import time
from collections import deque

from kernel.controller.events import EngineAdded, Outcome, TaskDone, TaskSubmitted
from kernel.controller.scheduler import Dependency, Dispatch, Scheduler, TaskSpec
from kernel.settings import SCHEMES

WINDOW = 8  # outstanding tasks in the stream mode
WORKLOADS = ("plain", "declined", "retried", "follow")
MODES = ("queued", "stream")


class Run:
    """One workload through one scheduler; ``now`` is the fake clock."""

    def __init__(self, scheme, engines, workload):
        self.s = Scheduler(scheme, hwm=2, rng=random.Random(1))
        self.workload = workload
        self.now = 0.0
        self.running = deque()  # Dispatches not yet reported, oldest first
        self.tried = set()  # tasks that had their first (refused or failed) attempt
        self.finished = 0
        for eid in range(engines):
            self.perform(self.s.handle(EngineAdded(eid)))

    def perform(self, actions):
        for action in actions:
            if isinstance(action, Dispatch):
                self.running.append(action)
            else:
                self.finished += 1

    def submit(self, taskid):
        self.now += 1e-4
        if self.workload == "follow" and taskid % 2:
            spec = TaskSpec(taskid, follow=Dependency([taskid - 1]))
        else:
            spec = TaskSpec(taskid, retries=1, has_depend=self.workload == "declined")
        self.perform(self.s.handle(TaskSubmitted(spec, self.now)))

    def report_oldest(self):
        self.now += 1e-4
        action = self.running.popleft()
        outcome = Outcome.SUCCESS
        if self.workload in ("declined", "retried") and action.taskid not in self.tried:
            self.tried.add(action.taskid)
            outcome = Outcome.DECLINED if self.workload == "declined" else Outcome.FAILURE
        self.perform(self.s.handle(TaskDone(action.taskid, action.eid, outcome, self.now)))

    def run(self, tasks, mode):
        if mode == "queued":
            for taskid in range(tasks):
                self.submit(taskid)
        else:
            for taskid in range(tasks):
                self.submit(taskid)
                while len(self.running) >= WINDOW:
                    self.report_oldest()
        while self.running:
            self.report_oldest()
        if self.finished != tasks:
            raise AssertionError(f"{self.finished} of {tasks} tasks finished")


def per_task(scheme, engines, workload, mode, tasks, repeat):
    """The best CPU time per task, in microseconds."""
    best = float("inf")
    for _ in range(repeat):
        run = Run(scheme, engines, workload)
        started = time.thread_time()
        run.run(tasks, mode)
        best = min(best, time.thread_time() - started)
    return best / tasks * 1e6


def _ints(text):
    return [int(n) for n in text.split(",") if n.strip()]


def _schemes(text):
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCHEMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"schemes are among {', '.join(SCHEMES)}; got {text!r}")
    return names


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.scheduler", description=__doc__.split("\n\n")[1])
    p.add_argument("--tasks", type=int, default=20000, help="tasks per run (default 20000)")
    p.add_argument("--engines", type=_ints, default=[2, 100], help="engine counts (default 2,100)")
    p.add_argument("--schemes", type=_schemes, default=["leastload"], help="comma-separated (default leastload)")
    p.add_argument("--repeat", type=int, default=5, help="runs per figure; the best is kept (default 5)")
    args = p.parse_args(argv)
    columns = [f"{n} engines" for n in args.engines]
    print(f"{'scheme':<12}{'workload':<10}{'mode':<8}" + "".join(f"{c:>12}" for c in columns) + "   µs per task")
    for scheme in args.schemes:
        for workload in WORKLOADS:
            for mode in MODES:
                figures = [per_task(scheme, n, workload, mode, args.tasks, args.repeat) for n in args.engines]
                print(f"{scheme:<12}{workload:<10}{mode:<8}" + "".join(f"{f:>12.2f}" for f in figures), flush=True)


if __name__ == "__main__":
    main()
