"""Our cluster: ipcontroller and N ipengines in a temporary --ipythondir.

Started as ``ipcluster local`` starts it: the controller and, at the same
time, the engines, forked by one fork server (``kernel.launchers.forked``;
``fork=False``, or under cProfile: one program each), which wait for its
FURL file; ready when ``get_ids()`` lists them all. The programs are run as
``python -c "from kernel.apps.X import main; ..."`` (exactly what the
installed scripts do) so that another package's ``ipcontroller``/``ipengine``
scripts in the same environment (ipyparallel installs both) cannot be
picked up instead. Everything listens on loopback.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import procs
from bench.systems import System, Unsupported
from bench.timing import clock, wait_for

STARTUP_TIMEOUT = 60.0


def program(name):
    return [sys.executable, "-c", f"import sys; from kernel.apps.{name} import main; sys.exit(main())"]


# The same program under cProfile with a CPU clock (time.thread_time), off until
# SIGUSR1; SIGUSR2 stops it and writes $BENCH_CPROFILE.main (and .network, the
# engine's reactor thread). Used by ``python -m bench.profile --cprofile``.
PROFILED = """
import cProfile, os, signal, sys, threading, time
from kernel.apps.{name} import main
prefix = os.environ["BENCH_CPROFILE"]
profiles = {{}}

def _toggle(thread, action):  # start profiling the calling thread, or stop and write its file
    if action == "start":
        profiles[thread] = cProfile.Profile(time.thread_time)
        profiles[thread].enable()
    elif thread in profiles:
        profiles[thread].disable()
        profiles[thread].dump_stats(prefix + "." + thread)

def _network(action):
    if threading.current_thread() is not threading.main_thread():
        _toggle("network", action)

def _signalled(signum, frame):
    from twisted.internet import reactor
    action = "start" if signum == signal.SIGUSR1 else "stop"
    _toggle("main", action)
    reactor.callFromThread(_network, action)

signal.signal(signal.SIGUSR1, _signalled)
signal.signal(signal.SIGUSR2, _signalled)
sys.exit(main())
"""


def task_client_classes():
    """``(TaskClient, MapTask)`` if this checkout has them, else None."""
    try:
        from kernel.client import MapTask, TaskClient
    except ImportError:
        return None
    return TaskClient, MapTask


class KernelSystem(System):
    name = "kernel"

    def __init__(self, cprofile_prefix=None, fork=True):
        self.cprofile_prefix = cprofile_prefix  # run the programs under PROFILED
        self.fork = fork  # engines forked by a fork server, as ipcluster starts them
        self.launcher = None
        self.dir = None
        self.controller = None
        self.engine_procs = []
        self.logs = []
        self.mec = None
        self.tc = None
        self.engine_pids_by_id = {}

    def version(self):
        import kernel

        return getattr(kernel, "__version__", "")

    # -- processes ------------------------------------------------------------

    def _spawn(self, name, args):
        log = open(self.dir / f"{name}-{len(self.logs)}.out", "w")
        self.logs.append(log)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        argv = program(name)
        if self.cprofile_prefix:
            argv = [sys.executable, "-c", PROFILED.format(name=name)]
            env["BENCH_CPROFILE"] = f"{self.cprofile_prefix}-{name}-{len(self.logs)}"
        process = subprocess.Popen([*argv, "--ipythondir", str(self.dir), *args],
                                   stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.dir)
        process.program = name
        process.cprofile = env.get("BENCH_CPROFILE")
        return process

    def controller_args(self):
        """More ipcontroller flags."""
        return []

    def _furl(self, name):
        from kernel import paths

        return self.dir / "security" / getattr(paths, name)

    def _check_alive(self):
        for p in [self.controller, *self.engine_procs]:
            if p is not None and p.poll() is not None:
                name = "ipcontroller" if p is self.controller else "ipengine"
                raise RuntimeError(f"{name} exited with {p.returncode}:\n{self.output()}")

    def output(self):
        text = []
        for log in self.logs:
            log.flush()
            text.append(Path(log.name).read_text()[-2000:])
        return "\n".join(text)

    def _start_engines(self):
        """As ``ipcluster local`` does: forked by a fork server (unless profiled, or ``fork`` is off)."""
        if self.cprofile_prefix or not self.fork:
            self.engine_procs = [self._spawn("ipengine", []) for _ in range(self.engines)]
            return
        from kernel.launchers import LaunchContext
        from kernel.launchers.local import LocalEngineSetLauncher

        context = LaunchContext(ipythondir=self.dir, logdir=self.dir, engine_furl_file=self._furl("ENGINE_FURL"),
                                env=dict(os.environ, PYTHONUNBUFFERED="1"), engine_cmd=program("ipengine"),
                                fork_engines=True)
        self.launcher = LocalEngineSetLauncher(context, self.engines)
        self.launcher.start()
        self.engine_procs = list(self.launcher.procs)

    def start(self):
        from kernel.client import MultiEngineClient

        self.dir = Path(tempfile.mkdtemp(prefix="bench-kernel-"))
        t0 = clock()
        self.controller = self._spawn("ipcontroller", ["--client-ip", "127.0.0.1", "--engine-ip", "127.0.0.1",
                                                       *self.controller_args()])
        # as `ipcluster local` does: engines start with the controller and wait for its FURL file
        self._start_engines()

        def furls_written():
            self._check_alive()
            return self._furl("ENGINE_FURL").exists() and self._furl("MEC_FURL").exists()

        wait_for(furls_written, STARTUP_TIMEOUT, what="the controller's FURL files")
        t_controller = clock()
        self.mec = MultiEngineClient(str(self._furl("MEC_FURL")))

        def engines_ready():
            self._check_alive()
            return len(self.mec.get_ids()) == self.engines

        wait_for(engines_ready, STARTUP_TIMEOUT, what=f"{self.engines} engines to register")
        t_ready = clock()
        self.ids = self.mec.get_ids()
        self.mec.execute("import os as _bench_os; _bench_pid = _bench_os.getpid()", targets=self.ids)
        self.engine_pids_by_id = dict(zip(self.ids, self.mec.pull("_bench_pid", targets=self.ids)))
        classes = task_client_classes()
        if classes is not None and self._furl("TC_FURL").exists():
            self.tc = classes[0](str(self._furl("TC_FURL")))
        return {"controller": t_controller - t0, "ready": t_ready - t0}

    def stop(self):
        for client in (self.mec, self.tc):
            try:
                if client is not None:
                    client.close()
            except Exception:
                pass
        self.mec = self.tc = None
        try:
            procs.stop_popen([*self.engine_procs, self.controller])
            if self.launcher is not None:
                self.launcher.stop()  # its fork server
        finally:
            self.engine_procs, self.controller, self.launcher = [], None, None
            for log in self.logs:
                log.close()
            self.logs = []
            if self.dir is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None

    def process(self, pid):
        """The Popen of one of our processes, by pid."""
        return next(p for p in [self.controller, *self.engine_procs] if p is not None and p.pid == pid)

    def pids(self):
        """The controller's pid and the engines' pids, in engine id order."""
        return {"controller": self.controller.pid, "engines": self.engine_pids()}

    def scheduler_pids(self):
        """The ipcontroller process."""
        return [self.controller.pid]

    def engine_pids(self):
        return [self.engine_pids_by_id[i] for i in self.ids]

    # -- multiengine ------------------------------------------------------------

    def tiny_one(self):
        self.mec.execute("pass", targets=self.ids[0], block=True)

    def tiny_all(self):
        self.mec.execute("pass", targets="all", block=True)

    def apply_one(self, func):
        raise Unsupported("MultiEngineClient has no apply; execute is its cheapest call")

    def push(self, array):
        self.mec.push({"a": array}, targets=self.ids[0], block=True)

    def pull(self):
        return self.mec.pull("a", targets=self.ids[0], block=True)[0]

    def map(self, func, seq):
        return self.mec.map(func, seq)

    # -- tasks (when kernel.client.TaskClient exists) ------------------------------

    def _task_client(self):
        if self.tc is None:
            if task_client_classes() is None:
                raise Unsupported("kernel.client.TaskClient is not in this checkout yet")
            raise Unsupported("the controller wrote no task FURL file")
        return self.tc

    def tasks_run(self, func, n):
        tc = self._task_client()
        MapTask = task_client_classes()[1]
        ids = [tc.run(MapTask(func)) for _ in range(n)]
        tc.barrier(ids)
        return ids

    def tasks_map(self, func, seq):
        return self._task_client().map(func, seq)

    def task_one(self, func):
        tc = self._task_client()
        MapTask = task_client_classes()[1]
        return tc.run(MapTask(func), block=True)  # submit and wait, as apply_sync does

    def legacy_loop(self, func, n):
        tc = self._task_client()
        MapTask = task_client_classes()[1]
        t0 = clock()
        ids = [tc.run(MapTask(func, (i,))) for i in range(n)]
        t1 = clock()
        tc.barrier(ids)
        t2 = clock()
        results = [tc.get_task_result(t) for t in ids]
        return results, {"submit": t1 - t0, "barrier": t2 - t1, "fetch": clock() - t2}


class RelayedKernelSystem(KernelSystem):
    """kernel whose engine port is served by relay processes (``ipcontroller --relays``), one per
    ENGINES_PER_RELAY engines; the relays count as the scheduler's processes."""

    name = "kernel-relays"
    ENGINES_PER_RELAY = 25

    def controller_args(self):
        return ["--relays", str(max(1, round(self.engines / self.ENGINES_PER_RELAY)))]

    def scheduler_pids(self):
        """The ipcontroller process and its relays."""
        relays = [pid for pid in procs.children_of(self.controller.pid)
                  if "kernel.apps.relay" in procs.command_line(pid)]
        return [self.controller.pid, *relays]
