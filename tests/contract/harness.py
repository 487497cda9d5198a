"""The two clusters the multiengine contract suite runs against.

- ``InProcessCluster``: the controller service on a reactor running in a
  thread of the test process, and engines whose command loops are threads
  (``kernel.engine.inprocess.ThreadEngine``). Same TLS, same wire, no
  processes.
- ``ProcessCluster``: the real thing, ``tests.cluster.Cluster``: one
  ipcontroller and ipengine processes over TLS on loopback.

Both offer the same small API: ``mec_furl``, ``client()``, ``ensure_engines(n)``,
``engine_count()``, ``controller_stopped()`` and ``stop()``. Waits poll a
condition with a deadline.
"""

import threading

import cloudpickle
import pytest
from twisted.internet.threads import blockingCallFromThread

from kernel import client, paths
from kernel import furl as furls
from kernel.controller.service import ControllerConfig, ControllerService
from kernel.engine.inprocess import ThreadEngine
from tests.cluster import Cluster, wait_for

_reactor_lock = threading.Lock()
_reactor_thread = None


@pytest.fixture(scope="module", autouse=True)
def _functions_travel_by_value(request):
    """Functions of a test module travel as code, like those of a user's script."""
    name = request.module.__name__
    mine = name not in cloudpickle.list_registry_pickle_by_value()
    if mine:
        cloudpickle.register_pickle_by_value(request.module)
    yield
    if mine and name in cloudpickle.list_registry_pickle_by_value():
        cloudpickle.unregister_pickle_by_value(request.module)


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


def _ids_are(mec, n):
    ids = mec.get_ids()
    return ids == list(range(n))


class InProcessCluster:
    name = "inprocess"

    def __init__(self, directory, engines=4, tasks=True):
        self.reactor = running_reactor()
        config = ControllerConfig(ipythondir=directory, client_ip="127.0.0.1", engine_ip="127.0.0.1")
        factory = None
        if tasks:
            from kernel.controller.tasks import TaskInterface

            factory = TaskInterface.for_controller
        self.service = ControllerService(self.reactor, config, factory)
        self.service.stop_soon = self._stop_soon  # kill(controller=True) must not stop our reactor
        self.stopped = False
        self.engines = []
        blockingCallFromThread(self.reactor, self.service.startService)
        self.security = paths.security_dir(directory)
        if engines:
            self.ensure_engines(engines)

    @property
    def mec_furl(self):
        return str(self.security / paths.MEC_FURL)

    def client(self):
        return client.MultiEngineClient(self.mec_furl)

    def start_engine(self):
        path = str(self.security / paths.ENGINE_FURL)
        engine = ThreadEngine(self.reactor, lambda: furls.load(path), heartbeat_timeout=30.0)
        self.engines.append(engine.start(name=f"engine-{len(self.engines)}"))
        return engine

    def engine_count(self):
        self.engines = [e for e in self.engines if e.alive]
        return len(self.engines)

    def ensure_engines(self, n=4):
        """Start engines until ``n`` are alive, then wait until ids 0..n-1 are registered."""
        for _ in range(n - self.engine_count()):
            self.start_engine()
        mec = self.client()
        try:
            wait_for(lambda: _ids_are(mec, n), what=f"{n} in-process engines to register")
        finally:
            mec.close()

    def _stop_soon(self, why):
        self.reactor.callLater(0.2, self._shutdown)

    def _shutdown(self):
        """What ``reactor.stop`` does to a real controller: every connection dropped."""
        self.stopped = True
        self.service.stopService()
        for handle in list(self.service.registry.engines.values()):
            handle.session.abort()
        for session in list(self.service.multiengine.sessions):
            session.protocol.transport.abortConnection()

    def controller_stopped(self):
        return self.stopped and not self.service.running

    def stop(self):
        for engine in self.engines:
            engine.on_message({"op": "interrupt"}, [])  # in case a test left code running
            engine.stop(timeout=10)
        if self.service.running:
            blockingCallFromThread(self.reactor, self.service.stopService)
        if not self.stopped:
            blockingCallFromThread(self.reactor, self._drop_sessions)

    def _drop_sessions(self):
        for session in list(self.service.multiengine.sessions):
            session.protocol.transport.abortConnection()


class ProcessCluster:
    name = "process"

    def __init__(self, cluster):
        self.cluster = cluster

    @classmethod
    def start(cls, directory, engines=4):
        cluster = Cluster(directory)
        try:
            cluster.start_controller()
            if engines:
                cluster.start_engines(engines)
        except BaseException:
            cluster.stop()
            raise
        return cls(cluster)

    @property
    def mec_furl(self):
        return self.cluster.mec_furl

    def client(self):
        return client.MultiEngineClient(self.mec_furl)

    def engine_count(self):
        return len([e for e in self.cluster.engines if e.poll() is None])

    def ensure_engines(self, n=4):
        """Start engine processes until ``n`` run, then wait until ids 0..n-1 are registered."""
        mec = self.client()
        try:
            # an engine that left (killed, say) may take a moment to exit
            wait_for(lambda: self.engine_count() == len(mec.get_ids()), what="departed engines to exit")
            missing = n - self.engine_count()
            if missing > 0:
                self.cluster.start_engines(missing, wait=False)
            wait_for(lambda: _ids_are(mec, n), what=f"{n} engine processes to register")
        finally:
            mec.close()

    def controller_stopped(self):
        return self.cluster.controller.poll() is not None

    def stop(self):
        self.cluster.stop()
