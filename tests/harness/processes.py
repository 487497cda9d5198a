"""A controller and engines as real processes over TLS on loopback, each one under the test's control.

``kernel.cluster.Cluster`` starts a whole cluster and keeps it up: it
restarts engines that die. Tests also need what a cluster must survive: one
engine killed and seen gone, the controller killed and started again with the
same directory and ports, an engine started before its controller or with a
wrong FURL file. So ``ProcessCluster`` starts each process alone, through
what ``kernel.cluster.Cluster`` starts its children with
(``kernel.launchers.process``: the program's command line, a session of its
own, its output appended to a file), and ``stop()`` kills them all and
everything they started. Waits poll a condition with a deadline.
"""

import os
import signal
from pathlib import Path

from kernel import paths
from kernel.launchers import process
from tests.harness.base import LEASE_WAIT, Backend
from tests.harness.waiting import STARTUP_TIMEOUT, wait_for

READY = "ipcontroller: log in"  # the controller prints it once every FURL file is written


class ProcessCluster:
    """A controller plus engines in ``directory``, driven as real processes."""

    def __init__(self, directory, controller_args=(), engine_args=()):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.controller_args = list(controller_args)
        self.engine_args = list(engine_args)
        self.controller = None
        self.engines = []  # every engine process started (Popen), dead ones included
        self.others = []  # programs started with spawn(), stopped with the rest
        self.security = paths.security_dir(self.dir)
        self.outputs = {}  # process -> the file with its stdout and stderr
        self.env = dict(os.environ, PYTHONUNBUFFERED="1")

    @property
    def mec_furl(self):
        return str(self.security / paths.MEC_FURL)

    @property
    def tc_furl(self):
        return str(self.security / paths.TC_FURL)

    @property
    def engine_furl(self):
        return str(self.security / paths.ENGINE_FURL)

    def spawn(self, argv, name):
        """Start another program (a swarm of engines, say), stopped with the cluster."""
        started = self._start(argv, name)
        self.others.append(started)
        return started

    def _start(self, argv, name):
        """Start ``argv``; its output goes to DIR/<name>-<n>.out."""
        output = self.dir / f"{name}-{len(self.outputs)}.out"
        started = process.spawn(argv, output, env=self.env)
        self.outputs[started] = output
        return started

    def _program(self, name, args):
        return self._start([*process.program(name), "--ipythondir", str(self.dir), *args], name)

    def output(self, started):
        """What process ``started`` has printed so far."""
        return self.outputs[started].read_text()

    def log(self, started):
        """The log file of our program ``started`` (an ipcontroller or ipengine) in DIR/log."""
        program = self.outputs[started].name.rsplit("-", 1)[0]
        return paths.log_dir(self.dir) / f"{program}-{started.pid}.log"

    def start(self, engines):
        """Start the controller, then ``engines`` engines; return once they are registered."""
        self.start_controller()
        self.start_engines(engines)
        return self

    def start_controller(self, *extra, wait=True):
        """Start ipcontroller (again: after kill_controller); with ``wait``, until its FURL files are written."""
        self.controller = self._program("ipcontroller", [*self.controller_args, *extra])
        if not wait:
            return self.controller
        wait_for(lambda: READY in self.output(self.controller) or self.controller.poll() is not None,
                 what="the controller's FURL files")
        if self.controller.poll() is not None:
            raise RuntimeError(f"ipcontroller exited with {self.controller.returncode}: "
                               f"{self.output(self.controller)}")
        return self.controller

    def start_engines(self, n, *extra, wait=True):
        """Start ``n`` ipengine processes; with ``wait``, until every live one is registered."""
        started = [self._program("ipengine", [*self.engine_args, *extra]) for _ in range(n)]
        self.engines.extend(started)
        if wait:
            self.wait_for_engines(len(self.running_engines()))
        return started

    def running_engines(self):
        return [e for e in self.engines if e.poll() is None]

    def client(self):
        from kernel import client

        return client.MultiEngineClient(self.mec_furl)

    def wait_for_engines(self, n, timeout=STARTUP_TIMEOUT):
        """Wait until exactly ``n`` engines are registered; return their ids."""
        mec = self.client()
        try:
            wait_for(lambda: len(mec.get_ids()) == n, timeout, what=f"{n} engines to be registered")
            return mec.get_ids()
        finally:
            mec.close()

    def kill_controller(self, sig=signal.SIGKILL):
        if self.controller is not None and self.controller.poll() is None:
            self.controller.send_signal(sig)
            self.controller.wait(10)

    def stop(self):
        """Kill every process started here, and whatever they started."""
        process.terminate([*self.engines, *self.others, self.controller], timeout=0, sig=signal.SIGKILL)


class ProcessBackend(Backend):
    """A ProcessCluster as the contract suites drive it (``Backend``): its clients, its engines by id and pid."""

    name = "process"

    def __init__(self, cluster):
        self.cluster = cluster
        self.clients = []
        self._mec = None
        self._tc = None

    @classmethod
    def start(cls, directory, engines=4, controller_args=()):
        """A new cluster in ``directory`` with ``engines`` engines."""
        cluster = ProcessCluster(directory, controller_args=["--lease-wait", str(LEASE_WAIT), *controller_args])
        try:
            cluster.start_controller()
            if engines:
                cluster.start_engines(engines)
        except BaseException:
            cluster.stop()
            raise
        return cls(cluster)

    @property
    def dir(self):
        return self.cluster.dir

    @property
    def mec_furl(self):
        return self.cluster.mec_furl

    @property
    def tc_furl(self):
        return self.cluster.tc_furl

    @property
    def db_path(self):
        return paths.db_dir(self.cluster.dir) / "tasks.sqlite"

    def _kept(self, made):
        self.clients.append(made)
        return made

    def mec(self):
        """A new MultiEngineClient (closed by ``stop()``)."""
        from kernel import client

        return self._kept(client.MultiEngineClient(self.mec_furl))

    def client(self):
        """A new TaskClient (closed by ``stop()``)."""
        from kernel import client

        return self._kept(client.TaskClient(self.tc_furl))

    @property
    def tc(self):
        """The TaskClient the task suites share."""
        if self._tc is None:
            self._tc = self.client()
        return self._tc

    @property
    def shared_mec(self):
        if self._mec is None:
            self._mec = self.mec()
        return self._mec

    # -- engines -------------------------------------------------------------------------

    def ids(self):
        return self.shared_mec.get_ids()

    def live_engines(self):
        return self.cluster.running_engines()

    def start_engine(self):
        self.cluster.start_engines(1, wait=False)

    def run_until(self, condition, what="a condition", timeout=30.0):
        wait_for(condition, timeout, what=what)

    def settle(self):
        """Nothing to deliver by hand: the processes run by themselves."""

    def kill(self, eid, pid):
        """SIGKILL the engine process ``pid`` (engine ``eid``); return once it is unregistered."""
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: eid not in self.ids(), what=f"engine {eid} to be unregistered")

    def controller_stopped(self):
        return self.cluster.controller.poll() is not None

    # -- the multiengine calls the task suites set their engines up with -----------------------

    def execute(self, code, targets="all"):
        self.shared_mec.execute(code, targets=targets)

    def set_properties(self, properties, targets="all"):
        self.shared_mec.set_properties(properties, targets=targets)

    def del_properties(self, keys, targets="all"):
        self.shared_mec.del_properties(keys, targets=targets)

    def clear_properties(self, targets="all"):
        self.shared_mec.clear_properties(targets=targets)

    def reset(self):
        self.shared_mec.reset()

    def idle(self):
        """Return once every engine has run everything sent to it."""
        self.shared_mec.execute("pass")

    def stop(self):
        for made in self.clients:
            try:
                made.close()
            except Exception:  # a broken client must not keep processes alive
                pass
        self.cluster.stop()
