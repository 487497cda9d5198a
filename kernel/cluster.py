"""Start a whole cluster from Python: a controller plus engines, stopped on exit.

    from kernel.cluster import Cluster

    with Cluster(n=4) as c:             # a temporary directory, 4 local engines
        mec = c.mec()
        print(mec.get_ids())            # [0, 1, 2, 3]

``Cluster`` is also what ``ipcluster`` runs. The engines can be started by any
launcher of ``kernel.launchers`` (``launcher="mpiexec"``, ``"ssh"``,
``"slurm"``, ...; the launcher's own options are keyword arguments). ``start()``
returns once all ``n`` engines have registered; if the controller does not
write its FURL files, or fewer than ``n`` engines register within
``timeout`` seconds, it stops everything and raises ``ClusterError`` whose
message ends with the tail of the failing process's log.

The engines run in ``work_dir`` (default: the directory ``start()`` is
called from; over ssh: the remote home) and import modules from there.

Local engines are forked from one process that has imported an engine's
modules (``launchers.forked``; ``fork_engines=False``: each is a program of
its own). Local engines that die are started again (``launchers.supervisor``), at most
``restart_limit`` times per engine within ``restart_window`` seconds
(``restart_limit=0``: never). ``timeout``, ``stop_timeout``, ``restart_limit``,
``restart_window`` and ``fork_engines`` not given come from the ``[cluster]`` settings
(``kernel.settings``: ``DIR/kernel.toml``, ``KERNEL_CLUSTER_*``, the default).
``scheme`` and ``relays`` are the controller's ``--scheme`` and ``--relays``,
and ``memory_limit`` (``"2GB"``) each engine's ``--memory-limit``; all are
checked here.
"""

import atexit
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from kernel import config, paths
from kernel.errors import KernelError
from kernel.launchers import LaunchContext, LaunchError, engine_launcher
from kernel.launchers.local import ControllerLauncher
from kernel.launchers.supervisor import Supervisor
from kernel.proctable import pid_alive

PID_FILE = "ipcluster.pid"
POLL = 0.05
REUSE_NEEDS_PORTS = ("To reuse FURL files, you must also set the client and engine ports "
                     "using the --client-port and --engine-port options.")


class ClusterError(RuntimeError):
    """The cluster could not be started (the message says why, with log tails)."""

    def __init__(self, reason, report=""):
        super().__init__(f"{reason}\n{report}".rstrip())
        self.reason = reason
        self.report = report


class ClusterStopped(ClusterError):
    """``request_stop()`` was called while the cluster was starting."""


def pid_file(ipythondir):
    return Path(ipythondir) / "pid" / PID_FILE


def running_ipcluster(ipythondir):
    """The pid of a live ``ipcluster`` serving ``ipythondir``, or None (stale files are removed)."""
    path = pid_file(ipythondir)
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if pid != os.getpid() and pid_alive(pid) and _is_ipcluster(pid):
        return pid
    if pid != os.getpid():
        path.unlink(missing_ok=True)
    return None


def _is_ipcluster(pid):
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc").is_dir()  # no /proc: trust the pid file
    except OSError:
        return True
    return b"ipcluster" in cmdline or b"kernel.apps.ipcluster" in cmdline


def _file_state(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class Cluster:
    """A controller and ``n`` engines in ``ipythondir`` (a temporary directory if None)."""

    def __init__(self, n=2, ipythondir=None, *, launcher="local", logdir=None, timeout=None,
                 client_port=0, engine_port=0, reuse_furls=False, scheme=None, relays=None,
                 client_ip=None, engine_ip=None, engine_location=None,
                 controller_args=(), engine_args=(), engine_cmd=None, env=None, work_dir=None,
                 memory_limit=None, restart_limit=None, restart_window=None, fork_engines=None,
                 die_with_parent=False, stop_timeout=None, log=None, **launcher_options):
        if reuse_furls and not (client_port and engine_port):
            raise ValueError(REUSE_NEEDS_PORTS)
        self.settings = config.load(
            None if ipythondir is None else Path(str(ipythondir)).expanduser(), "cluster",
            {"timeout": timeout, "stop_timeout": stop_timeout, "restart_limit": restart_limit,
             "restart_window": restart_window, "fork_engines": fork_engines}, environ=env)
        controller_args = [*config.argv("controller.scheme", scheme, "scheme"),
                           *config.argv("controller.relays", relays, "relays"), *controller_args]
        engine_args = [*config.argv("engine.memory_limit", memory_limit, "memory_limit"), *engine_args]
        self.n = n
        self.kind = launcher
        self.launcher_class = engine_launcher(launcher)
        self.launcher_options = launcher_options
        self.timeout = self.settings.timeout
        self.stop_timeout = self.settings.stop_timeout
        self._given_dir = ipythondir
        self._given_logdir = logdir
        self.ipythondir = None
        self.logdir = None
        self._tempdir = False
        self.controller_args = self._controller_argv(
            client_port, engine_port, reuse_furls, client_ip, engine_ip, engine_location, controller_args)
        self.reuse_furls = reuse_furls
        self.engine_args = [str(a) for a in engine_args]
        self.engine_cmd = engine_cmd
        self.work_dir = work_dir
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.die_with_parent = die_with_parent
        self.log = log or (lambda message: None)
        self.controller = None
        self.engines = None
        self.supervisor = None  # restarts engines that die (launchers.supervisor), once started
        self.running = False
        self._clients = []
        self._stop_flag = False  # a plain flag: request_stop() may run in a signal handler
        self._lock = threading.Lock()

    @staticmethod
    def _controller_argv(client_port, engine_port, reuse, client_ip, engine_ip, engine_location, extra):
        argv = []
        if reuse:
            argv.append("-r")
        for flag, value in (("--client-port", client_port), ("--engine-port", engine_port),
                            ("--client-ip", client_ip), ("--engine-ip", engine_ip),
                            ("--engine-location", engine_location)):
            if value:
                argv += [flag, str(value)]
        return argv + [str(a) for a in extra]

    # -- files ---------------------------------------------------------------------

    @property
    def security_dir(self):
        return Path(self.ipythondir) / "security"

    @property
    def engine_furl_file(self):
        return self.security_dir / paths.ENGINE_FURL

    @property
    def mec_furl_file(self):
        return self.security_dir / paths.MEC_FURL

    @property
    def tc_furl_file(self):
        return self.security_dir / paths.TC_FURL

    # -- clients ---------------------------------------------------------------------

    def mec(self, **options):
        """A new MultiEngineClient connected to this cluster (closed by ``stop()``)."""
        self._require_running()
        from kernel import client

        mec = client.MultiEngineClient(str(self.mec_furl_file), **options)
        self._clients.append(mec)
        return mec

    def tc(self, **options):
        """A new TaskClient connected to this cluster (closed by ``stop()``)."""
        self._require_running()
        from kernel import client

        task_client = getattr(client, "TaskClient", None)
        if task_client is None or not self.tc_furl_file.exists():
            raise ClusterError("this controller has no task interface")
        tc = task_client(str(self.tc_furl_file), **options)
        self._clients.append(tc)
        return tc

    def engine_ids(self):
        from kernel import client

        mec = client.MultiEngineClient(str(self.mec_furl_file), connect_timeout=5)
        try:
            return mec.get_ids()
        finally:
            mec.close()

    def _require_running(self):
        if not self.running:
            raise ClusterError("the cluster is not running (use start() or 'with Cluster(...)')")

    # -- start -----------------------------------------------------------------------

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def request_stop(self):
        """Ask a starting or running cluster to stop (safe from a signal handler)."""
        self._stop_flag = True

    @property
    def stop_requested(self):
        return self._stop_flag

    def wait_stop_requested(self, timeout=None):
        """Return True once request_stop() was called, False after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stop_flag:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(POLL)
        return True

    def start(self):
        if self.running:
            return self
        if self._given_dir is None:
            self.ipythondir = Path(tempfile.mkdtemp(prefix="kernel-cluster-"))
            self._tempdir = True
        else:
            self.ipythondir = paths.ipython_dir(str(self._given_dir))
        self.logdir = Path(self._given_logdir).expanduser().resolve() if self._given_logdir \
            else paths.log_dir(self.ipythondir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        paths.security_dir(self.ipythondir)
        other = running_ipcluster(self.ipythondir)
        if other is not None:
            self._cleanup_dir()
            raise ClusterError(f"ipcluster (pid {other}) is already running a cluster in "
                               f"{self.ipythondir}; stop it first (ipcluster stop --ipythondir "
                               f"{self.ipythondir})")
        context = LaunchContext(
            ipythondir=self.ipythondir, logdir=self.logdir, engine_furl_file=self.engine_furl_file,
            env=self.env, engine_args=self.engine_args, work_dir=self._engine_work_dir(),
            die_with_parent=self.die_with_parent, started=time.time(),
            fork_engines=self.settings.fork_engines and not self.engine_cmd,  # a command of one's own is run as it is
        )
        if self.engine_cmd:
            from kernel.launchers.base import split_command

            context.engine_cmd = split_command(self.engine_cmd)
        try:
            self.engines = self.launcher_class(context, self.n, **self.launcher_options)
        except LaunchError as e:
            self._cleanup_dir()
            raise ClusterError(str(e)) from None
        except TypeError as e:
            self._cleanup_dir()
            raise ClusterError(f"bad option for the {self.kind} launcher: {e}") from None
        self.n = self.engines.n
        self.controller = ControllerLauncher(context, self.controller_args)
        self.running = True
        atexit.register(self.stop)
        # Local engines can start with the controller: they wait for its (fresh) FURL
        # file themselves, so their start-up overlaps the controller's.
        early = self.kind == "local" and not self.reuse_furls
        try:
            self._start_controller(then=self._launch_engines if early else None)
            if not early:
                self._launch_engines()
            self.wait_for_engines(self.n, self.timeout, _starting=True)
        except BaseException:
            self.stop()
            raise
        if self.engines.restartable:
            self.supervisor = Supervisor(self.engines, self.settings.restart_limit, self.settings.restart_window,
                                         log=self.log, controller_alive=self.controller.alive).start()
        return self

    def _engine_work_dir(self):
        """Where the engines run: ``work_dir``, else this process's directory (on other hosts: their home)."""
        if self.launcher_class.remote:
            return self.work_dir
        return os.path.abspath(os.path.expanduser(self.work_dir or os.getcwd()))

    def _fail(self, reason, report):
        raise ClusterError(reason, report)

    def _check_cancelled(self):
        if self._stop_flag:
            raise ClusterStopped("stopped while starting")

    def _start_controller(self, then=None):
        """Start the controller, call ``then()`` at once, and wait for the FURL files."""
        files = [self.engine_furl_file, self.mec_furl_file]
        if not self.reuse_furls:
            for f in (*files, self.tc_furl_file):
                f.unlink(missing_ok=True)
        before = {f: _file_state(f) for f in files}
        try:
            self.controller.start()
        except LaunchError as e:
            self._fail(str(e), "")
        self.log(f"controller started (pid {self.controller.pid})")
        if then is not None:
            then()
        deadline = time.monotonic() + self.timeout
        while True:
            self._check_cancelled()
            if all(_file_state(f) not in (None, before[f]) for f in files):
                return
            problem = self.controller.failure()
            if problem:
                self._fail(f"{problem} before writing its FURL files", self.controller.report())
            if time.monotonic() > deadline:
                self._fail(f"the controller did not write its FURL files within {self.timeout:g} s",
                           self.controller.report())
            time.sleep(POLL)

    def _launch_engines(self):
        self.log(f"starting {self.engines.describe()}")
        try:
            self.engines.start()
        except LaunchError as e:
            self._fail(f"could not start the engines: {e}", "")
        self.log(f"started {self.engines.describe()}")

    def wait_for_engines(self, n=None, timeout=None, _starting=False):
        """Wait until at least ``n`` engines are registered; return their ids."""
        n = self.n if n is None else n
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        next_check = 0.0
        mec, ids, last_error = None, [], None
        from kernel import client

        try:
            while True:
                if _starting:
                    self._check_cancelled()
                problem = self.controller.failure()
                if problem:
                    self._fail(problem, self.controller.report())
                if time.monotonic() >= next_check and self.supervisor is None:  # else its dead come back
                    next_check = time.monotonic() + 0.5
                    problem = self.engines.failure()
                    if problem:
                        self._fail(f"{problem}; {len(ids)} of {n} engines registered",
                                   self.engines.report())
                try:
                    if mec is None:
                        mec = client.MultiEngineClient(str(self.mec_furl_file), connect_timeout=5)
                    seen, ids = len(ids), mec.get_ids()
                    if _starting and len(ids) != seen:
                        self.log(f"{len(ids)} of {n} engines registered")
                    if len(ids) >= n:
                        return ids
                except (KernelError, OSError) as e:
                    last_error = e
                    if mec is not None:
                        mec.close()
                    mec = None
                if time.monotonic() > deadline:
                    detail = f" (last error: {last_error})" if last_error and not ids else ""
                    self._fail(f"only {len(ids)} of {n} engines registered within {timeout:g} s{detail}",
                               self.engines.report())
                time.sleep(2 * POLL)
        finally:
            if mec is not None:
                mec.close()

    # -- information -------------------------------------------------------------------

    def connection_info(self):
        """How to connect: the Python lines, the FURL files and the log directory."""
        lines = ["Connect from Python:",
                 "    from kernel import client",
                 f"    mec = client.MultiEngineClient({str(self.mec_furl_file)!r})"]
        if self.tc_furl_file.exists():
            lines.append(f"    tc = client.TaskClient({str(self.tc_furl_file)!r})")
        lines += ["FURL files:",
                  f"    engines:     {self.engine_furl_file}",
                  f"    multiengine: {self.mec_furl_file}"]
        if self.tc_furl_file.exists():
            lines.append(f"    task:        {self.tc_furl_file}")
        lines.append(f"Logs: {self.logdir}")
        return "\n".join(lines)

    # -- stop --------------------------------------------------------------------------

    def stop(self):
        """Stop the engines, then the controller; return a list of problems (empty if clean)."""
        with self._lock:
            if not self.running:
                return []
            self.running = False
        atexit.unregister(self.stop)
        problems = []
        for c in self._clients:
            try:
                c.close()
            except Exception:  # a broken client must not keep processes alive
                pass
        self._clients = []
        if self.supervisor is not None:
            self.supervisor.stop()  # first: the engines stopped now stay stopped
        if self.engines is not None:
            self.log(f"stopping {self.engines.describe()}")
            try:
                self.engines.stop(self.stop_timeout)
            except LaunchError as e:
                problems.append(str(e))
        if self.controller is not None and self.controller.proc is not None:
            self.log(f"stopping the controller (pid {self.controller.pid})")
            self.controller.stop(self.stop_timeout)
        self._cleanup_dir()
        return problems

    def _cleanup_dir(self):
        if self._tempdir and self.ipythondir is not None:
            shutil.rmtree(self.ipythondir, ignore_errors=True)

    def __repr__(self):
        state = "running" if self.running else "stopped"
        return f"<Cluster {self.kind} n={self.n} {state} in {self.ipythondir}>"
