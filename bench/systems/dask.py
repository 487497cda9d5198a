"""dask.distributed as a peer: a LocalCluster of two worker processes, one thread each.

Scatter and gather go through the scheduler (dask's default, like our
controller in the middle). Workers are child processes of this one; they are
recorded and killed by pid on stop.

LocalCluster runs the scheduler inside this process, so the memory rows use
a cluster of their own whose scheduler is a process apart (``start_apart``).
"""

import logging
import os

from bench import procs
from bench.remote import noop
from bench.systems import PeerSystem, Unsupported
from bench.timing import clock, wait_for

SETTLE_TIMEOUT = 60.0


class DaskSystem(PeerSystem):
    name = "dask"
    package = "distributed"

    def __init__(self):
        super().__init__()
        self.cluster = None
        self.client = None
        self._future = None

    def not_cluster_pids(self):
        """multiprocessing's resource tracker: this process's, shared with whatever else uses it."""
        return [_resource_tracker_pid()]

    def start(self):
        from distributed import LocalCluster

        return self._start(lambda: LocalCluster(
            n_workers=self.engines, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, silence_logs=logging.ERROR,
        ))

    def start_apart(self):
        """A SubprocessCluster: the scheduler alone in a ``dask spec`` process, each worker in another."""
        from distributed.deploy.subprocess import SubprocessCluster

        scheduler_file = os.path.join(self.make_dir(), "scheduler.json")
        with procs.environ({"DASK_LOGGING__DISTRIBUTED": "error"}):  # its stderr is a pipe nobody reads
            return self._start(lambda: SubprocessCluster(
                host="127.0.0.1", n_workers=self.engines, threads_per_worker=1, dashboard_address=None,
                scheduler_kwargs={"scheduler_file": scheduler_file}, silence_logs=logging.ERROR,
            ))

    def _start(self, make_cluster):
        from distributed import Client

        with self.spawned:
            t0 = clock()
            self.cluster = make_cluster()
            self.client = Client(self.cluster)
            self.client.wait_for_workers(self.engines)
            t_ready = clock()
        self.workers = sorted(self.client.scheduler_info()["workers"])
        return {"ready": t_ready - t0}

    def shutdown(self):
        client, cluster = self.client, self.cluster
        self.client, self.cluster, self._future = None, None, None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    def scheduler_pids(self):
        """The scheduler's process, when it has one (``start_apart``); LocalCluster runs it in this one."""
        process = getattr(self.cluster.scheduler, "process", None)
        if process is None:
            raise Unsupported("the scheduler runs in the benchmark process")
        return [process.pid, *procs.children_of(process.pid)]

    def engine_pids(self):
        return list(self.client.run(os.getpid).values())

    def settle(self):
        """Wait until the scheduler has forgotten the tasks (the client releases them in batches)."""

        def task_count(dask_scheduler):  # local, so it travels by value: the scheduler cannot import bench
            return len(dask_scheduler.tasks)

        wait_for(lambda: self.client.run_on_scheduler(task_count) == 0, SETTLE_TIMEOUT,
                 what="the scheduler to release the tasks")

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

    def legacy_loop(self, func, n):
        from distributed import wait

        t0 = clock()
        futures = [self.client.submit(func, i, pure=False) for i in range(n)]
        t1 = clock()
        wait(futures)
        t2 = clock()
        results = [f.result() for f in futures]
        return results, {"submit": t1 - t0, "wait": t2 - t1, "fetch": clock() - t2}


def _resource_tracker_pid():
    try:
        from multiprocessing import resource_tracker

        return resource_tracker._resource_tracker._pid
    except (ImportError, AttributeError):
        return None
