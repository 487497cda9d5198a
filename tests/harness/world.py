"""The in-process cluster on a virtual clock: the real controller and engine core, linked in memory.

The controller is a ``ControllerService`` (registry, multiengine and task
interfaces) that never listens; the engines are ``ThreadEngine``s, the
engine core ipengine runs (its command queue, cancels, interrupts, replies),
each running user code on a thread of its own with a real Interpreter; the
clients are the real TaskClient. Instead of TLS connections, in-memory links
hand each message to the other end as the wire would (the header through
JSON, the buffers copied).

The test's thread is the World's reactor: the clock is a
``twisted.internet.task.Clock`` that it moves, and what an engine's thread
asks of its reactor (``callFromThread``: register, a reply) waits in a queue
until the test's thread runs it. A client's blocking call runs the World
until its answer is there (``run_until``): it runs the queued calls, lets real
time pass while an engine computes (the clock moving with it), and when
nothing computes jumps the clock to the next timer.

The trade-off. Gained: timeouts, retries and scheduling rounds cost no real
time and come in the same order every run, and a test can look at or change
the controller between any two messages. Kept real: the controller service,
the engine core (its command thread, queue, cancels and interrupts), the
clients, the messages' encoding. Left out: sockets and TLS (the multiengine
suite's ``InProcessCluster`` and the process backends have them), heartbeats
(the registry's are not started: an engine leaves when its link drops, as
on a lost connection), and signals (a killed engine's link drops and its
thread is interrupted).
"""

import itertools
import json
import os
import queue
import time
from pathlib import Path

from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from kernel import paths
from kernel.client.connection import remote_error
from kernel.client.taskclient import TaskClient
from kernel.controller.engines import EngineSession
from kernel.engine.core import STOP
from kernel.engine.inprocess import ThreadEngine
from kernel.wire import framing, serialize
from tests.harness.base import LEASE_WAIT, Backend
from tests.harness.inprocess import controller_service

REAL_TIMEOUT = 30.0  # real seconds a blocking call may take in the World
VIRTUAL_LIMIT = 3600.0  # virtual seconds a blocking call may take in the World


def _wire(header, buffers):
    """What the other end receives: the header through JSON, each buffer copied."""
    return json.loads(json.dumps(header)), [bytearray(memoryview(b).cast("B")) for b in buffers]


class WorldClock(Clock):
    """The World's reactor: a Clock, and ``callFromThread`` queues a call for the test's thread."""

    def __init__(self):
        super().__init__()
        self.from_threads = queue.SimpleQueue()

    def callFromThread(self, f, *args, **kwargs):
        self.from_threads.put(lambda: f(*args, **kwargs))


class _Transport:
    def __init__(self, on_abort):
        self.on_abort = on_abort

    def abortConnection(self):
        self.on_abort()

    loseConnection = abortConnection


class ControllerEnd:
    """The controller's end of one in-memory connection: what a session sends goes to ``deliver``."""

    def __init__(self, clock, deliver, on_abort=lambda: None):
        self.clock = clock
        self.deliver = deliver
        self.transport = _Transport(on_abort)
        self.last_received = clock.seconds()

    def send(self, header, buffers=()):
        self.deliver(*_wire(header, buffers))

    def send_encoded(self, parts):
        [(header, buffers)] = framing.FrameDecoder().feed(b"".join(bytes(p) for p in parts))
        self.deliver(header, buffers)

    def hand(self, session, header, buffers):
        """Hand ``session`` a message that came through the wire (``_wire``)."""
        self.last_received = self.clock.seconds()
        session.message(header, buffers)

    def abort(self):
        self.transport.abortConnection()

    def peer(self):
        return "in-process"


class _EngineEnd:
    """The engine's end of its link: the engine core sends its replies here, from its own thread."""

    def __init__(self, link):
        self.link = link
        self.connected = True

    def send_from_thread(self, header, buffers=()):
        if self.connected:
            self.link.world.clock.callFromThread(self.link.replied, self, *_wire(header, buffers))


class EngineLink:
    """An engine's connection to the World's controller: what ``EngineConnector`` is over TLS.

    ``start`` and ``stop`` run on the World's thread: the engine asks for them
    with ``callFromThread``, as it asks its reactor.
    """

    def __init__(self, world, engine):
        self.world = world
        self.engine = engine
        self.protocol = None  # the engine's end, once linked (EngineCore answers a call on it)
        self.end = None  # the controller's end
        self.session = None
        self.id = None
        self.received = []  # the ops of the controller's messages, in order
        self.outstanding = 0  # calls handed to the engine and not answered yet

    @property
    def connected(self):
        return self.protocol is not None and self.protocol.connected

    @property
    def busy(self):
        """The engine's thread has something to do that the World must let real time pass for."""
        return self.protocol is None or (self.protocol.connected and self.outstanding > 0)

    def start(self):
        self.protocol = _EngineEnd(self)
        self.end = ControllerEnd(self.world.clock, self._from_controller, self.kill)
        self.session = EngineSession(self.world.registry, self.end)
        self.end.hand(self.session, {"op": "register", "desired_id": None, "pid": os.getpid(),
                                     "host": "in-process"}, [])

    def _from_controller(self, header, buffers):
        op = header["op"]
        self.received.append(op)
        if op == "registered":
            self.id = header["id"]
            self.engine.on_registered(self.id)
            return
        if op == "call":
            self.outstanding += 1
        self.engine.on_message(header, buffers)

    def replied(self, end, header, buffers):
        if end.connected:
            self.outstanding -= 1
            self.end.hand(self.session, header, buffers)

    def stop(self):
        """The engine leaves: its connection closes cleanly."""
        self._close(Failure(ConnectionDone()))

    def kill(self, reason="killed by the test"):
        """The connection drops, as when the engine's process is SIGKILLed, and the engine's thread ends."""
        if self._close(Failure(ConnectionLost(reason))):
            self.engine.inbox.put(STOP)
            self.engine.interrupt()  # what it runs stops; its reply goes nowhere

    def _close(self, reason):
        if not self.connected:
            return False
        self.protocol.connected = False
        self.session.closed(reason)
        return True


class LinkedEngine(ThreadEngine):
    """A ThreadEngine whose connection to the World's controller is an ``EngineLink``."""

    def __init__(self, world):
        super().__init__(world.clock, furl_source=None)
        self.connector = EngineLink(world, self)  # in place of the EngineConnector's TLS connection

    @property
    def id(self):
        return self.connector.id

    @property
    def received(self):
        return self.connector.received


class ClientConnection:
    """A client's connection: requests go straight to the session, the World runs until the reply."""

    def __init__(self, world, interface):
        self.world = world
        self.replies = {}
        self.rids = itertools.count(1)
        self.end = ControllerEnd(world.clock, self._deliver)
        self.session = interface.open_session(self.end)

    def _deliver(self, header, buffers):
        for rid in header.get("rids") or [header.get("rid")]:
            self.replies[rid] = (header, buffers)

    def request(self, header, buffers=()):
        rid = next(self.rids)
        self.end.hand(self.session, *_wire(dict(header, rid=rid), buffers))
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


class World(Backend):
    """The in-process controller with ``engines`` engines on a virtual clock; see the module docstring."""

    name = "inprocess"

    def __init__(self, directory, engines=3, scheme="leastload", poison_after=3):
        self.dir = Path(directory)
        self.clock = WorldClock()
        self.clock.advance(time.time())
        self.service = controller_service(self.clock, self.dir, scheme=scheme, poison_after=poison_after,
                                          lease_wait=LEASE_WAIT)
        self.service.stop_soon = lambda why: None  # no reactor to stop: the World is stopped by the test
        self.registry = self.service.registry
        self.tasks = self.service.tasks
        self.controller = self.tasks.controller
        self.tasks.start()
        self.engines = []
        self.clients = []
        for _ in range(engines):
            self.add_engine()
        self.tc = self.client()
        self._mec = ClientConnection(self, self.service.multiengine)

    @property
    def db_path(self):
        return paths.db_dir(self.dir) / "tasks.sqlite"

    def client(self):
        tc = TaskClient._over(ClientConnection(self, self.tasks))
        self.clients.append(tc)
        return tc

    # -- running the world ---------------------------------------------------------

    def _run_one(self, wait):
        """Run one call an engine's thread queued, waiting up to ``wait`` s for one; False if none came."""
        try:
            call = self.clock.from_threads.get(timeout=wait) if wait else self.clock.from_threads.get_nowait()
        except queue.Empty:
            return False
        call()
        return True

    def run_until(self, condition, what="a condition", timeout=REAL_TIMEOUT):
        """Run the engines' calls and move virtual time on until ``condition()``."""
        deadline = time.monotonic() + timeout
        virtual_deadline = self.clock.seconds() + VIRTUAL_LIMIT
        while not condition():
            if self._run_one(0):
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"in-process cluster: no progress towards {what} in {timeout:g} s")
            if any(e.connector.busy for e in self.engines):
                started = time.monotonic()  # an engine is computing: real time must pass,
                self._run_one(0.02)  # and the clock moves with it
                self.clock.advance(time.monotonic() - started)
                continue
            calls = self.clock.getDelayedCalls()
            if not calls or self.clock.seconds() > virtual_deadline:
                raise TimeoutError(f"in-process cluster: {what} never happens (virtual time ran out)")
            self.clock.advance(max(0.0, min(c.getTime() for c in calls) - self.clock.seconds()))

    def settle(self):
        """Run whatever the engines' threads have queued, without waiting."""
        while self._run_one(0):
            pass

    # -- engines (Backend) ---------------------------------------------------------------

    def start_engine(self):
        engine = LinkedEngine(self)
        self.engines.append(engine.start(name=f"world-engine-{len(self.engines)}"))
        return engine

    def add_engine(self):
        """Start an engine and return it once registered."""
        engine = self.start_engine()
        self.run_until(lambda: engine.id is not None, what="a new engine to register")
        self.clock.advance(0)  # the controller takes the engine on in the next turn
        return engine

    def live_engines(self):
        self.engines = [e for e in self.engines if e.connector.connected or e.alive]
        return [e for e in self.engines if e.connector.connected]

    def engine(self, eid):
        return next(e for e in self.engines if e.connector.connected and e.id == eid)

    def ids(self):
        return self.registry.ids()

    def kill(self, eid, pid=None):
        self.engine(eid).connector.kill()

    # -- the multiengine calls the task suites set their engines up with -----------------------

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
            engine.connector.kill("the test cluster stops")
        self.service.stopService()
        for engine in self.engines:
            engine.stop(timeout=10)
