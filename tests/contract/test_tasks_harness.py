"""The two clusters the task contract suite runs against (no tests in this module).

- ``World``: the in-process controller. The real TaskController, TaskSession,
  EngineRegistry, EngineSession and MultiEngineSession on a
  ``twisted.internet.task.Clock``; engines are threads running the real
  engine-side code (``kernel.engine.methods``) on a real Interpreter; the
  client is the real TaskClient over a connection that hands messages to the
  session (headers through JSON, buffers copied, as on the wire). Time is
  virtual: when no engine is busy the clock jumps to the next timer, so
  timeouts cost nothing. Killing an engine is its connection dropping.
- ``ProcessBackend``: the real thing (``tests.cluster.Cluster``): ipcontroller
  and ipengine processes over TLS on loopback; killing an engine is SIGKILL.

Both offer ``tc``, ``ids()``, ``execute``, ``set_properties``, ``del_properties``,
``clear_properties``, ``reset``,
``kill(eid)``, ``ensure_engines(n)``, ``db_path`` and ``stop()``. ``Hold``
makes tasks that wait for a release file, to keep engines busy on purpose.
"""

import itertools
import json
import os
import queue
import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from kernel import client, paths
from kernel.client.connection import remote_error
from kernel.client.taskclient import TaskClient
from kernel.controller.engines import EngineRegistry, EngineSession
from kernel.controller.multiengine import MultiEngineInterface
from kernel.controller.service import ControllerConfig
from kernel.controller.tasks import TaskController, TaskInterface
from kernel.engine import methods, replies
from kernel.engine.interpreter import Interpreter
from kernel.errors import QueueCleared
from kernel.wire import framing, serialize
from tests.cluster import Cluster, wait_for

REAL_TIMEOUT = 30.0  # real seconds a blocking call may take in the World
VIRTUAL_LIMIT = 3600.0  # virtual seconds a blocking call may take in the World


def _wire(header, buffers):
    """What the other end receives: the header through JSON, each buffer copied."""
    return json.loads(json.dumps(header)), [bytearray(memoryview(b).cast("B")) for b in buffers]


class _Transport:
    def __init__(self, on_abort):
        self.on_abort = on_abort

    def abortConnection(self):
        self.on_abort()

    loseConnection = abortConnection


class _Protocol:
    """The controller's end of one fake connection."""

    def __init__(self, deliver, on_abort=lambda: None):
        self.deliver = deliver
        self.transport = _Transport(on_abort)

    def send(self, header, buffers=()):
        self.deliver(*_wire(header, buffers))

    def send_encoded(self, parts):
        [(header, buffers)] = framing.FrameDecoder().feed(b"".join(bytes(p) for p in parts))
        self.deliver(header, buffers)

    def _peer(self):
        return "in-process"


class FakeEngine:
    """An engine whose commands run on a thread of its own; replies go through the World."""

    def __init__(self, world):
        self.world = world
        self.interp = Interpreter()
        self.inbox = queue.Queue()
        self.alive = True
        self.outstanding = 0  # commands sent and not yet answered (counted on the test thread)
        self.cancelled = set()
        self.received = []  # the ops of the controller's messages, in order
        self.id = None
        self.thread = threading.Thread(target=self._serve, name="fake-engine", daemon=True)
        self.thread.start()
        self.session = EngineSession(world.registry, _Protocol(self._from_controller, self.kill))
        self.session.message({"op": "register", "desired_id": None, "pid": os.getpid(), "host": "here"}, [])

    def _from_controller(self, header, buffers):
        op = header["op"]
        self.received.append(op)
        if op == "registered":
            self.id = header["id"]
            self.inbox.put(("set_id", self.id))
        elif op == "call":
            self.outstanding += 1
            self.inbox.put(("call", (header, buffers)))
        elif op == "cancel":
            self.cancelled.update(header["cids"])

    def _serve(self):
        while True:
            kind, value = self.inbox.get()
            if kind == "stop":
                return
            if kind == "set_id":
                self.interp.set_id(value)
                continue
            header, buffers = value
            if header["cid"] in self.cancelled:
                reply, out = replies.failure(header, QueueCleared("cancelled"))
            else:
                reply, out = methods.dispatch(self.interp, header, buffers)
            self.world.outbox.put((self, *_wire(reply, out)))

    def kill(self, reason="killed by the test"):
        """The connection drops (as when the process is SIGKILLed); the thread ends after its command."""
        if self.alive:
            self.alive = False
            self.session.closed(Failure(ConnectionLost(reason)))
            self.inbox.put(("stop", None))


class FakeConnection:
    """A client's connection: requests go straight to the session, the World runs until the reply."""

    def __init__(self, world, interface):
        self.world = world
        self.replies = {}
        self.rids = itertools.count(1)
        self.session = interface.open_session(_Protocol(self._deliver))

    def _deliver(self, header, buffers):
        for rid in header.get("rids") or [header.get("rid")]:
            self.replies[rid] = (header, buffers)

    def request(self, header, buffers=()):
        rid = next(self.rids)
        self.session.message(*_wire(dict(header, rid=rid), buffers))
        return rid

    def ready(self, rid):
        self.world.settle()
        return rid in self.replies

    def wait(self, rid, timeout=None):
        self.world.run_until(lambda: rid in self.replies, what=f"the answer to request {rid}")
        reply, out = self.replies.pop(rid)
        if reply["op"] == "error":
            raise remote_error(reply)
        return reply, out

    def call(self, header, buffers=(), timeout=None):
        return self.wait(self.request(header, buffers))

    def forget(self, rids):
        for rid in rids:
            self.replies.pop(rid, None)

    def if_idle(self, work):
        return False  # the World runs on the test's thread alone: a client's keeper never touches it

    def close(self):
        self.session.closed(Failure(ConnectionDone()))


class World:
    """The in-process controller with ``engines`` thread engines; see the module docstring."""

    name = "inprocess"

    def __init__(self, directory, engines=3, scheme="leastload", poison_after=3):
        self.dir = Path(directory)
        self.clock = Clock()
        self.clock.advance(time.time())
        config = ControllerConfig(ipythondir=self.dir, scheme=scheme, poison_after=poison_after,
                                  lease_wait=LEASE_WAIT)
        self.registry = EngineRegistry(self.clock)
        self.controller = TaskController.open(self.clock, self.registry, config)
        self.tasks = TaskInterface(self.controller)
        service = SimpleNamespace(config=config, properties_changed=self.tasks.properties_changed,
                                  stop_soon=lambda why: None)  # what the multiengine interface asks of one
        self.mei = MultiEngineInterface(self.registry, service)
        self.tasks.start()
        self.outbox = queue.Queue()
        self.engines = []
        self.clients = []
        for _ in range(engines):
            self.add_engine()
        self.tc = self.client()
        self._mec = FakeConnection(self, self.mei)

    @property
    def db_path(self):
        return paths.db_dir(self.dir) / "tasks.sqlite"

    def client(self):
        tc = TaskClient._over(FakeConnection(self, self.tasks))
        self.clients.append(tc)
        return tc

    # -- running the world ---------------------------------------------------------

    def _deliver_one(self, wait):
        try:
            engine, reply, out = self.outbox.get(timeout=wait) if wait else self.outbox.get_nowait()
        except queue.Empty:
            return False
        engine.outstanding -= 1
        if engine.alive:
            engine.session.message(reply, out)
        return True

    def run_until(self, condition, what="a condition", timeout=REAL_TIMEOUT):
        """Deliver engine replies and move virtual time on until ``condition()``."""
        deadline = time.monotonic() + timeout
        virtual_deadline = self.clock.seconds() + VIRTUAL_LIMIT
        while not condition():
            if self._deliver_one(0):
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"in-process cluster: no progress towards {what} in {timeout:g} s")
            if any(e.alive and e.outstanding for e in self.engines):
                started = time.monotonic()  # an engine is computing: real time must pass,
                self._deliver_one(0.02)  # and the clock moves with it
                self.clock.advance(time.monotonic() - started)
                continue
            calls = self.clock.getDelayedCalls()
            if not calls or self.clock.seconds() > virtual_deadline:
                raise TimeoutError(f"in-process cluster: {what} never happens (virtual time ran out)")
            self.clock.advance(max(0.0, min(c.getTime() for c in calls) - self.clock.seconds()))

    def settle(self):
        """Deliver whatever the engines have answered, without waiting."""
        while self._deliver_one(0):
            pass

    # -- engines -------------------------------------------------------------------------

    def add_engine(self):
        engine = FakeEngine(self)
        self.engines.append(engine)
        self.clock.advance(0)  # the controller takes the engine on in the next turn
        return engine

    def engine(self, eid):
        return next(e for e in self.engines if e.alive and e.id == eid)

    def ids(self):
        return self.registry.ids()

    def kill(self, eid, pid=None):
        self.engine(eid).kill()

    def ensure_engines(self, n):
        self.engines = [e for e in self.engines if e.alive or e.thread.is_alive()]
        for _ in range(n - len(self.ids())):
            self.add_engine()
        assert self.ids() == list(range(n))

    def _mec_call(self, method, targets="all", args=None, buffers=()):
        reply, out = self._mec.call({"op": "call", "method": method, "targets": targets, "args": args or {}},
                                    buffers)
        for entry in reply["results"]:
            if entry["status"] != "ok":
                raise RuntimeError(f"{method} failed on engine {entry['id']}: {entry.get('message')}")
        return reply["results"]

    def execute(self, code, targets="all"):
        self._mec_call("execute", targets, {"code": code})

    def set_properties(self, properties, targets="all"):
        self._mec_call("set_properties", targets, buffers=serialize.dumps(properties))

    def del_properties(self, keys, targets="all"):
        self._mec_call("del_properties", targets, {"keys": keys})

    def clear_properties(self, targets="all"):
        self._mec_call("clear_properties", targets)

    def reset(self):
        self._mec_call("reset")

    def idle(self):
        """Wait until every engine has run everything sent to it."""
        self._mec_call("execute", "all", {"code": "pass"})

    def stop(self):
        for tc in self.clients:
            tc.close()
        for engine in self.engines:
            engine.kill("the test cluster stops")
        self.tasks.stop()
        for engine in self.engines:
            engine.thread.join(10)


class ProcessBackend:
    """An ipcontroller and ipengine processes over TLS (see ``tests.cluster``)."""

    name = "tls"

    def __init__(self, directory, engines=3, controller_args=()):
        self.cluster = Cluster(directory, controller_args=["--lease-wait", str(LEASE_WAIT), *controller_args])
        try:
            self.cluster.start_controller()
            if engines:
                self.cluster.start_engines(engines)
            self.mec = self.cluster.client()
            self.tc = client.TaskClient(self.cluster.tc_furl)
        except BaseException:
            self.cluster.stop()
            raise
        self.clients = [self.tc]

    @property
    def dir(self):
        return self.cluster.dir

    @property
    def db_path(self):
        return paths.db_dir(self.cluster.dir) / "tasks.sqlite"

    def client(self):
        tc = client.TaskClient(self.cluster.tc_furl)
        self.clients.append(tc)
        return tc

    def ids(self):
        return self.mec.get_ids()

    def kill(self, eid, pid):
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: eid not in self.mec.get_ids(), what=f"engine {eid} to be unregistered")

    def ensure_engines(self, n):
        running = lambda: [e for e in self.cluster.engines if e.poll() is None]  # noqa: E731
        wait_for(lambda: len(running()) == len(self.ids()), what="departed engines to exit")
        if n > len(running()):
            self.cluster.start_engines(n - len(running()), wait=False)
        wait_for(lambda: self.ids() == list(range(n)), what=f"{n} engines to register")

    def execute(self, code, targets="all"):
        self.mec.execute(code, targets=targets)

    def set_properties(self, properties, targets="all"):
        self.mec.set_properties(properties, targets=targets)

    def del_properties(self, keys, targets="all"):
        self.mec.del_properties(keys, targets=targets)

    def clear_properties(self, targets="all"):
        self.mec.clear_properties(targets=targets)

    def reset(self):
        self.mec.reset()

    def idle(self):
        self.mec.execute("pass")

    def settle(self):
        pass

    def run_until(self, condition, what="a condition", timeout=REAL_TIMEOUT):
        wait_for(condition, timeout, what=what)

    def stop(self):
        for tc in self.clients:
            try:
                tc.close()
            except Exception:
                pass
        self.cluster.stop()


LEASE_WAIT = 1.0  # seconds a request waits for a leased task that does not come (the default is 60)


def make_backend(kind, directory, **options):
    return World(directory, **options) if kind == "inprocess" else ProcessBackend(directory, **options)


HOLD_CODE = """\
import os as _os, time as _time, pathlib as _pathlib
_hold = _pathlib.Path(hold_dir)
(_hold / f"started-{id}-{_os.getpid()}-{_time.time_ns()}").touch()
while not (_hold / "release").exists():
    _time.sleep(0.002)
"""


class Hold:
    """Tasks that keep an engine busy until ``release()``; each attempt leaves a marker file.

    The markers tell which engine (and process) runs an attempt, so a test
    can kill exactly that engine.
    """

    def __init__(self, backend, directory):
        self.backend = backend
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.seen = set()

    def task(self, code="", pull=None, **options):
        """A StringTask that holds, then runs ``code``."""
        return client.StringTask(HOLD_CODE + code, pull=pull, push={"hold_dir": str(self.dir)}, **options)

    def release(self):
        (self.dir / "release").touch()

    def attempts(self):
        """``[(engine id, pid)]`` of every attempt started so far, oldest first."""
        found = []
        for path in self.dir.glob("started-*"):
            _, eid, pid, stamp = path.name.split("-")
            found.append((int(stamp), int(eid), int(pid), path.name))
        return [(eid, pid) for _, eid, pid, _ in sorted(found)]

    def wait_new_attempt(self):
        """The ``(engine id, pid)`` of an attempt not returned before, waiting for one."""
        def fresh():
            names = sorted(p.name for p in self.dir.glob("started-*"))
            return [n for n in names if n not in self.seen]

        self.backend.run_until(lambda: fresh(), what="a held task to start on an engine")
        name = fresh()[0]
        self.seen.add(name)
        _, eid, pid, _ = name.split("-")
        return int(eid), int(pid)

    def kill_running(self):
        """Kill the engine that runs the next attempt; return its id."""
        eid, pid = self.wait_new_attempt()
        self.backend.kill(eid, pid)
        return eid
