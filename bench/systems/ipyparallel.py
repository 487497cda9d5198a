"""ipyparallel as a peer: ipp.Cluster with a controller and two engines on loopback.

``delay=0``: ipyparallel otherwise sleeps 1 s between starting the controller
and the engines; the engines wait for the connection file themselves. Every
process the cluster spawned (the controller forks its schedulers) is recorded
and killed by pid on stop, whatever state the cluster is in.
"""

import contextlib
import logging
import os

from bench import procs
from bench.systems import PeerSystem
from bench.timing import clock


class IPyParallelSystem(PeerSystem):
    name = "ipyparallel"
    package = "ipyparallel"

    def __init__(self):
        super().__init__()
        self.cluster = None
        self.rc = None

    def start(self):
        import ipyparallel as ipp

        with self.spawned:
            t0 = clock()
            self.cluster = ipp.Cluster(
                n=self.engines, profile_dir=self.make_dir(), cluster_id="bench", controller_ip="127.0.0.1",
                delay=0, log_level=logging.WARNING, shutdown_atexit=True, load_profile=False,
            )
            self.rc = self.cluster.start_and_connect_sync(n=self.engines)
            t_ready = clock()
        self.ids = sorted(self.rc.ids)
        self.one = self.rc[self.ids[0]]
        self.one.block = True
        self.all = self.rc[:]
        self.all.block = True
        self.lb = self.rc.load_balanced_view()
        return {"ready": t_ready - t0}

    def shutdown(self):
        rc, cluster, self.rc, self.cluster = self.rc, self.cluster, None, None
        if rc is not None:
            with contextlib.suppress(Exception):  # the cluster is stopped all the same
                rc.close()
        if cluster is not None:
            cluster.stop_cluster_sync()

    def scheduler_pids(self):
        """The controller (the hub) and the processes it forks: heart monitor, queues and schedulers."""
        pid = self.cluster.controller.pid
        return [pid, *procs.children_of(pid)]

    def engine_pids(self):
        return self.all.apply_sync(os.getpid)

    # -- direct views ---------------------------------------------------------------

    def tiny_one(self):
        self.one.execute("pass", block=True)

    def tiny_all(self):
        self.all.execute("pass", block=True)

    def apply_one(self, func):
        return self.one.apply_sync(func)

    def push(self, array):
        self.one.push({"a": array}, block=True)

    def pull(self):
        return self.one.pull("a", block=True)

    def map(self, func, seq):
        return self.all.map_sync(func, seq)

    # -- load-balanced view ---------------------------------------------------------

    def tasks_run(self, func, n):
        results = [self.lb.apply_async(func) for _ in range(n)]
        self.rc.wait(results)
        return [r.get() for r in results]

    def tasks_map(self, func, seq):
        return self.lb.map_sync(func, seq)

    def task_one(self, func):
        return self.lb.apply_sync(func)

    def legacy_loop(self, func, n):
        t0 = clock()
        pending = [self.lb.apply_async(func, i) for i in range(n)]
        t1 = clock()
        self.rc.wait(pending)
        t2 = clock()
        results = [r.get() for r in pending]
        return results, {"submit": t1 - t0, "wait": t2 - t1, "fetch": clock() - t2}
