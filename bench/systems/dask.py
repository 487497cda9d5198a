"""dask.distributed as a peer: a LocalCluster of two worker processes, one thread each.

Scatter and gather go through the scheduler (dask's default, like our
controller in the middle). Workers are child processes of this one; they are
recorded and killed by pid on stop.
"""

import logging
import os

from bench import procs
from bench.remote import noop
from bench.systems import System
from bench.timing import clock


class DaskSystem(System):
    name = "dask"

    def __init__(self):
        self.cluster = None
        self.client = None
        self.spawned = []
        self._before = set()
        self._future = None

    def available(self):
        try:
            import distributed  # noqa: F401
        except ImportError:
            return "dask.distributed is not installed (see bench/README.md: pip install -e '.[bench]' in a separate venv)"
        return None

    def version(self):
        import distributed

        return distributed.__version__

    def start(self):
        from distributed import Client, LocalCluster

        self._before = set(procs.children_of(os.getpid()))
        t0 = clock()
        try:
            self.cluster = LocalCluster(
                n_workers=self.engines, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, silence_logs=logging.ERROR,
            )
            self.client = Client(self.cluster)
            self.client.wait_for_workers(self.engines)
        finally:
            self._record_spawned()
        t_ready = clock()
        self.workers = sorted(self.client.scheduler_info()["workers"])
        return {"ready": t_ready - t0}

    def _record_spawned(self):
        keep = {p for p in (_resource_tracker_pid(),) if p}  # this process's, shared, not the cluster's
        now = procs.children_of(os.getpid())
        self.spawned.extend(p for p in now if p not in self._before and p not in self.spawned and p not in keep)

    def stop(self):
        self._future = None
        try:
            if self.client is not None:
                self.client.close()
            if self.cluster is not None:
                self._record_spawned()
                self.cluster.close()
        except Exception:
            pass
        finally:
            procs.kill_pids(self.spawned, grace=2.0)
            self.spawned, self.cluster, self.client = [], None, None

    def pids(self):
        return {"spawned": list(self.spawned)}

    # -- calls on chosen workers -----------------------------------------------------

    def tiny_one(self):
        self.client.run(noop, workers=self.workers[:1])

    def tiny_all(self):
        self.client.run(noop)

    def apply_one(self, func):
        return self.client.submit(func, pure=False, workers=self.workers[:1]).result()

    def push(self, array):
        self._future = self.client.scatter(array, workers=self.workers[:1], hash=False)

    def pull(self):
        future, self._future = self._future, None
        try:
            return self.client.gather(future)
        finally:
            future.release()

    def map(self, func, seq):
        return self.client.gather(self.client.map(func, seq, pure=False))

    # -- load-balanced tasks -----------------------------------------------------------

    def tasks_run(self, func, n):
        from distributed import wait

        futures = [self.client.submit(func, pure=False) for _ in range(n)]
        wait(futures)
        return self.client.gather(futures)

    def tasks_map(self, func, seq):
        return self.client.gather(self.client.map(func, seq, pure=False))

    def task_one(self, func):
        return self.client.submit(func, pure=False).result()


def _resource_tracker_pid():
    try:
        from multiprocessing import resource_tracker

        return resource_tracker._resource_tracker._pid
    except (ImportError, AttributeError):
        return None
