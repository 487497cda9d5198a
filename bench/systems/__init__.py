"""The systems under test, each behind the same small interface.

A system starts a cluster of two engines (or workers), then offers the
operations the workloads time. An operation a system has no equivalent for
raises ``Unsupported`` with a note; the workload is then skipped for that
system and the note printed.
"""

import contextlib
import importlib
import shutil
import tempfile

from bench import procs


class Unsupported(Exception):
    """This system has no equivalent of the operation (the message says why)."""


class System:
    name = ""
    engines = 2

    def available(self):
        """None if the system can run here, else a note saying why not."""
        return None

    def version(self):
        return ""

    def start(self):
        """Start a cluster of ``engines`` ready engines; return ``{phase: seconds}``.

        The dict has at least ``"ready"``: seconds from the first process
        spawned to every engine able to run work.
        """
        raise NotImplementedError

    def start_apart(self):
        """Start a cluster whose scheduler runs in processes of its own, apart from this client.

        The memory rows and the scale bench read those processes (memory, CPU).
        """
        return self.start()

    def stop(self):
        """Stop everything ``start`` started (safe to call twice, or after a failed start)."""
        raise NotImplementedError

    def pids(self):
        """``{role: pid or [pids]}`` of every process of the cluster except this one."""
        return {}

    def all_pids(self):
        out = []
        for value in self.pids().values():
            out.extend(value if isinstance(value, list) else [value])
        return out

    def scheduler_pids(self):
        """Pids of the processes that route and schedule work (not the engines): their memory is reported."""
        raise Unsupported("no scheduler process of its own")

    def engine_pids(self):
        """Pids of the engine (worker) processes, one per engine."""
        raise Unsupported("no way to ask the engines for their pids")

    def settle(self):
        """Return once the scheduler has let go of the tasks whose results were returned."""

    # -- operations timed by the workloads (raise Unsupported if no equivalent) --

    def tiny_one(self):
        """The cheapest call on one engine and its reply."""
        raise Unsupported("no single-engine call")

    def tiny_all(self):
        """The cheapest call on every engine, replies gathered."""
        raise Unsupported("no all-engine call")

    def apply_one(self, func):
        """Call ``func()`` on one chosen engine and return its result."""
        raise Unsupported("no call of a function on a chosen engine")

    def push(self, array):
        """Send ``array`` to one engine (under the name ``a``)."""
        raise Unsupported("no push")

    def pull(self):
        """Fetch what ``push`` sent back from that engine; return it."""
        raise Unsupported("no pull")

    def map(self, func, seq):
        """``list(map(func, seq))`` in parallel over the engines (not load balanced)."""
        raise Unsupported("no map")

    def tasks_run(self, func, n):
        """Submit ``n`` load-balanced tasks ``func()`` one by one, then wait for all."""
        raise Unsupported("no load-balanced tasks")

    def tasks_map(self, func, seq):
        """Load-balanced ``list(map(func, seq))``; return the list."""
        raise Unsupported("no load-balanced map")

    def task_one(self, func):
        """One load-balanced task ``func()``, waited for; return its result."""
        raise Unsupported("no load-balanced tasks")

    def legacy_loop(self, func, n):
        """``func(i)`` for i in range(n) as load-balanced tasks, in the idiom of 0.10's result loop.

        Submit one by one, wait for all, then fetch each result. Returns
        ``(results, {phase: seconds})``, the phases in the order they ran.
        """
        raise Unsupported("no load-balanced tasks")


class PeerSystem(System):
    """Another project's cluster, started through its library.

    The library starts the processes, so they are found below this process
    (``self.spawned``, recorded inside ``with self.spawned:`` and whenever the
    pids are asked for) and killed by pid on stop, whatever state the library
    is left in.
    """

    package = ""  # the module to import, whose __version__ is reported

    def __init__(self):
        self.spawned = procs.Spawned(keep=self.not_cluster_pids)
        self.dir = None

    def available(self):
        try:
            importlib.import_module(self.package)
        except ImportError:
            return f"{self.package} is not installed (see bench/README.md: pip install -e '.[bench]' in a separate venv)"
        return None

    def version(self):
        return importlib.import_module(self.package).__version__

    def not_cluster_pids(self):
        """Pids below this process that the library starts but that outlive its cluster."""
        return ()

    def make_dir(self):
        """A temporary directory for the cluster's files, removed on stop."""
        self.dir = tempfile.mkdtemp(prefix=f"bench-{self.name}-")
        return self.dir

    def shutdown(self):
        """Stop the cluster through the library (errors are ignored: stop kills what is left)."""
        raise NotImplementedError

    def stop(self):
        self.spawned.record()
        with contextlib.suppress(Exception):  # what the library leaves running is killed next
            self.shutdown()
        self.spawned.kill()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def pids(self):
        return {"spawned": self.spawned.record()}


SYSTEMS = {
    "kernel": "bench.systems.kernel:KernelSystem",
    "kernel-relays": "bench.systems.kernel:RelayedKernelSystem",
    "ipyparallel": "bench.systems.ipyparallel:IPyParallelSystem",
    "dask": "bench.systems.dask:DaskSystem",
    "ray": "bench.systems.ray:RaySystem",
}

SCALE_ONLY = {"kernel-relays"}  # a way to run kernel for many engines: the scale bench's, not the two-engine one's


def load(name):
    module, _, cls = SYSTEMS[name].partition(":")
    return getattr(importlib.import_module(module), cls)()
