"""ipyparallel as a peer: ipp.Cluster with a controller and two engines on loopback.

``delay=0``: ipyparallel otherwise sleeps 1 s between starting the controller
and the engines; the engines wait for the connection file themselves. Every
process the cluster spawned (the controller forks its schedulers) is recorded
and killed by pid on stop, whatever state the cluster is in.
"""

import logging
import os
import shutil
import tempfile

from bench import procs
from bench.systems import System
from bench.timing import clock


class IPyParallelSystem(System):
    name = "ipyparallel"

    def __init__(self):
        self.cluster = None
        self.rc = None
        self.dir = None
        self.spawned = []
        self._before = set()

    def available(self):
        try:
            import ipyparallel  # noqa: F401
        except ImportError:
            return "ipyparallel is not installed (see bench/README.md: pip install -e '.[bench]' in a separate venv)"
        return None

    def version(self):
        import ipyparallel

        return ipyparallel.__version__

    def start(self):
        import ipyparallel as ipp

        self.dir = tempfile.mkdtemp(prefix="bench-ipp-")
        self._before = set(procs.children_of(os.getpid()))
        t0 = clock()
        self.cluster = ipp.Cluster(
            n=self.engines, profile_dir=self.dir, cluster_id="bench", controller_ip="127.0.0.1",
            delay=0, log_level=logging.WARNING, shutdown_atexit=True, load_profile=False,
        )
        try:
            self.rc = self.cluster.start_and_connect_sync(n=self.engines)
        finally:
            self._record_spawned()
        t_ready = clock()
        self.ids = sorted(self.rc.ids)
        self.one = self.rc[self.ids[0]]
        self.one.block = True
        self.all = self.rc[:]
        self.all.block = True
        self.lb = self.rc.load_balanced_view()
        return {"ready": t_ready - t0}

    def _record_spawned(self):
        now = procs.children_of(os.getpid())
        self.spawned.extend(p for p in now if p not in self._before and p not in self.spawned)

    def stop(self):
        try:
            if self.rc is not None:
                self.rc.close()
        except Exception:
            pass
        try:
            if self.cluster is not None:
                self._record_spawned()
                self.cluster.stop_cluster_sync()
        except Exception:
            pass
        finally:
            procs.kill_pids(self.spawned, grace=2.0)
            self.spawned, self.cluster, self.rc = [], None, None
            if self.dir is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None

    def pids(self):
        return {"spawned": list(self.spawned)}

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
