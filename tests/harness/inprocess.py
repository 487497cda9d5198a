"""The in-process cluster: the real controller service and engine core in threads of the test process.

The controller is a ``ControllerService`` (its engine registry and its
multiengine and task interfaces, built as ipcontroller builds them); the
engines are ``ThreadEngine``s, the engine core that ipengine runs, each
serving its commands on a thread of its own; the clients are the real ones.
It runs on one of two clocks:

- ``InProcessCluster`` (here): the global reactor, running in a daemon
  thread; the service listens, and engines and clients speak TLS over
  loopback as between processes. The multiengine contract suite runs on it:
  its clients (futures, reader threads, interrupts, ``kill(controller=True)``)
  need a reactor that runs by itself.
- ``World`` (``tests.harness.world``): a virtual clock that the test's thread
  moves, with engines and clients linked to the service in memory. The task
  suites run on it: timeouts, retries and scheduling rounds cost no real
  time, and a test can look at the controller between any two messages.
"""

import threading
from pathlib import Path

from twisted.internet.threads import blockingCallFromThread

from kernel import client
from kernel import furl as furls
from kernel.controller.service import ControllerConfig, ControllerService
from kernel.controller.tasks import TaskInterface
from kernel.engine.inprocess import ThreadEngine
from tests.harness.base import Backend
from tests.harness.waiting import STARTUP_TIMEOUT, wait_for

_reactor_lock = threading.Lock()
_reactor_thread = None


def running_reactor():
    """The global reactor, running in a daemon thread of this process (started once)."""
    global _reactor_thread
    from twisted.internet import reactor

    with _reactor_lock:
        if _reactor_thread is None:
            _reactor_thread = threading.Thread(
                target=reactor.run, kwargs={"installSignalHandlers": False}, name="reactor", daemon=True)
            _reactor_thread.start()
            wait_for(lambda: reactor.running, what="the reactor thread to start")
    return reactor


def stop_reactor():
    global _reactor_thread
    from twisted.internet import reactor

    with _reactor_lock:
        if _reactor_thread is not None:
            reactor.callFromThread(reactor.stop)
            _reactor_thread.join(10)
            _reactor_thread = None


def controller_service(clock, directory, **settings):
    """The controller's service on ``clock``, with the task interface, as ipcontroller makes it."""
    config = ControllerConfig(ipythondir=Path(directory), client_ip="127.0.0.1", engine_ip="127.0.0.1", **settings)
    return ControllerService(clock, config, TaskInterface.for_controller)


class InProcessCluster(Backend):
    """The service on the reactor thread, listening on loopback; ``engines`` ThreadEngines over TLS."""

    name = "inprocess"

    def __init__(self, directory, engines=4):
        self.reactor = running_reactor()
        self.service = controller_service(self.reactor, directory)
        self.service.stop_soon = self._stop_soon  # kill(controller=True) must not stop our reactor
        self.stopped = False
        self.engines = []
        blockingCallFromThread(self.reactor, self.service.startService)
        if engines:
            self.ensure_engines(engines)

    @property
    def dir(self):
        return self.service.config.ipythondir

    @property
    def mec_furl(self):
        return str(self.service.config.multiengine_furl_file)

    @property
    def tc_furl(self):
        return str(self.service.config.task_furl_file)

    def mec(self):
        """A new MultiEngineClient over TLS."""
        return client.MultiEngineClient(self.mec_furl)

    # -- engines (Backend) -------------------------------------------------------------

    def start_engine(self):
        path = str(self.service.config.engine_furl_file)
        engine = ThreadEngine(self.reactor, lambda: furls.load(path), heartbeat_timeout=30.0)
        self.engines.append(engine.start(name=f"engine-{len(self.engines)}"))
        return engine

    def live_engines(self):
        self.engines = [e for e in self.engines if e.alive]
        return self.engines

    def ids(self):
        return blockingCallFromThread(self.reactor, self.service.registry.ids)

    def run_until(self, condition, what="a condition", timeout=STARTUP_TIMEOUT):
        wait_for(condition, timeout, what=what)

    # -- stopping ----------------------------------------------------------------------

    def _stop_soon(self, why):
        self.reactor.callLater(0.2, self._shutdown)

    def _shutdown(self):
        """What ``reactor.stop`` does to a real controller: every connection dropped."""
        self.stopped = True
        self.service.stopService()
        for handle in list(self.service.registry.engines.values()):
            handle.session.abort()
        self._drop_sessions()

    def controller_stopped(self):
        return self.stopped and not self.service.running

    def stop(self):
        for engine in self.engines:
            engine.interrupt()  # in case a test left code running
            engine.stop(timeout=10)
        if self.service.running:
            blockingCallFromThread(self.reactor, self.service.stopService)
        if not self.stopped:
            blockingCallFromThread(self.reactor, self._drop_sessions)

    def _drop_sessions(self):
        for session in list(self.service.multiengine.sessions):
            session.protocol.transport.abortConnection()
