"""Ray as a peer: a local cluster of two CPUs (``ray.init(num_cpus=2)``).

Ray listens on the machine's own address (it replaces 127.0.0.1 by it);
Linux routes that through loopback all the same.

Calls on a chosen engine go to two actors, one per worker process. The
load-balanced tasks are remote functions; Ray runs them in worker processes
of their own (at most two at a time), started when the first tasks arrive.
Arrays pass through Ray's shared-memory object store, which on one machine
needs no socket at all.

The cluster keeps Ray's defaults (token authentication included) except:
no dashboard, no usage statistics, logs under a temporary directory, the
token in the environment rather than written to ``~/.ray``. Every process
below this one that appears while the cluster runs (GCS server, raylet,
monitors, agents, workers) is recorded and killed by pid on stop.
"""

import contextlib
import logging
import secrets

from bench import procs
from bench.systems import PeerSystem
from bench.timing import clock

SCHEDULERS = ("gcs_server", "raylet")  # the cluster's control plane and the node's scheduler

# One token for every cluster this process starts: Ray's driver reads it once and keeps it.
TOKEN = secrets.token_hex(32)


def holder_class():
    """The actor class, defined here so that cloudpickle ships it by value (workers cannot import bench)."""

    class Holder:
        """One pinned worker: answers no-op calls, keeps what is pushed to it, runs what it is given."""

        def __init__(self):
            self.a = None

        def noop(self):
            return None

        def pid(self):
            import os

            return os.getpid()

        def set(self, a):
            self.a = a

        def get(self):
            return self.a

        def apply(self, func):
            return func()

    return Holder


class RaySystem(PeerSystem):
    name = "ray"
    package = "ray"

    def __init__(self):
        super().__init__()
        self.ray = None  # the module, imported by start
        self.actors = []
        self.remote = {}
        self.env = contextlib.ExitStack()

    def start(self):
        import ray

        self.ray = ray
        self.env.enter_context(procs.environ({"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_TOKEN": TOKEN}))
        with self.spawned:
            t0 = clock()
            ray.init(address="local", num_cpus=self.engines, include_dashboard=False, _temp_dir=self.make_dir(),
                     logging_level=logging.ERROR, log_to_driver=False)
            holder = ray.remote(holder_class())
            self.actors = [holder.remote() for _ in range(self.engines)]
            ray.get([a.noop.remote() for a in self.actors])
            t_ready = clock()
        return {"ready": t_ready - t0}

    def shutdown(self):
        self.actors, self.remote = [], {}
        try:
            if self.ray is not None:
                self.ray.shutdown()
        finally:
            self.env.close()

    def scheduler_pids(self):
        """The GCS server and the raylet."""
        return [p for p in self.spawned.record() if procs.program_name(p) in SCHEDULERS]

    def engine_pids(self):
        """The actors' processes (the remote functions run in worker processes of their own)."""
        return self.ray.get([a.pid.remote() for a in self.actors])

    def _remote(self, func):
        """``func`` as a Ray remote function, made once (Ray exports a function the first time it is called)."""
        if func not in self.remote:
            self.remote[func] = self.ray.remote(func)
        return self.remote[func]

    # -- actors, one per worker -----------------------------------------------------

    def tiny_one(self):
        self.ray.get(self.actors[0].noop.remote())

    def tiny_all(self):
        self.ray.get([a.noop.remote() for a in self.actors])

    def apply_one(self, func):
        return self.ray.get(self.actors[0].apply.remote(func))

    def push(self, array):
        self.ray.get(self.actors[0].set.remote(array))

    def pull(self):
        return self.ray.get(self.actors[0].get.remote())

    # -- remote functions (Ray balances them over the CPUs) -----------------------------

    def map(self, func, seq):
        f = self._remote(func)
        return self.ray.get([f.remote(x) for x in seq])

    def tasks_run(self, func, n):
        f = self._remote(func)
        return self.ray.get([f.remote() for _ in range(n)])

    tasks_map = map  # Ray's core API has no bulk map: one remote call per item is its idiom

    def task_one(self, func):
        return self.ray.get(self._remote(func).remote())

    def legacy_loop(self, func, n):
        f = self._remote(func)
        t0 = clock()
        refs = [f.remote(i) for i in range(n)]
        t1 = clock()
        results = self.ray.get(refs)
        return results, {"submit": t1 - t0, "get": clock() - t1}
