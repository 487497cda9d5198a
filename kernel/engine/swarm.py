"""Many engines in one process: a controller tried at the scale of a big cluster on one machine.

Each engine of a swarm is a whole engine to the controller: its own TLS
connection, registration, heartbeat answers, namespace, properties and
reconnection (``EngineCore``, ``EngineConnector``), speaking the real
protocol. What they share is this process: one reactor, on the main thread,
and one thread that runs every engine's commands in turn, so a command on
one engine waits for the commands of the others. An interrupt reaches the
command running on that thread when it is that engine's (as a
``ThreadEngine``'s does); ``kill`` ends that engine alone, and the process
exits when the last engine has gone. Shared memory is off: the engines would
share one pid. An engine costs about 0.1 MB here against an ipengine
process's tens of MB (``docs/scale.md``). ``python -m kernel.apps.swarm``
runs one.
"""

import queue
import threading

from kernel.engine.core import STOP
from kernel.engine.inprocess import ThreadEngine
from kernel.wire import shm

class _Tagged:
    """One engine's inbox: a view of the swarm's queue that marks what it puts as the engine's."""

    def __init__(self, shared, engine):
        self.shared = shared
        self.engine = engine

    def put(self, item):
        self.shared.put((self.engine, item))


class SwarmEngine(ThreadEngine):
    """A ThreadEngine whose commands run on its swarm's one thread."""

    def __init__(self, swarm, reactor, furl_source, **options):
        super().__init__(reactor, furl_source, **options)
        self.inbox = _Tagged(swarm.inbox, self)
        self.thread = swarm.thread


class Swarm:
    """``n`` engines of one controller; ``reactor`` runs on another thread, or on this one after ``start``."""

    def __init__(self, reactor, furl_source, n, **options):
        self.reactor = reactor
        self.inbox = queue.SimpleQueue()  # (engine, item) for the command thread, in arrival order
        self.thread = threading.Thread(target=self._serve, name="swarm", daemon=True)
        self.engines = [SwarmEngine(self, reactor, furl_source, **options) for _ in range(n)]
        self.done = threading.Event()  # every engine has left
        self.on_done = lambda: None  # called on the reactor's thread once every engine has left

    def start(self):
        """Start the command thread and every engine's connection."""
        shm.disable()
        self.thread.start()
        for engine in self.engines:
            self.reactor.callFromThread(engine.connector.start)
        return self

    def stop(self, timeout=10.0):
        """Every engine leaves its controller; return once they have (or ``timeout`` s)."""
        for engine in self.engines:
            engine.inbox.put(STOP)
        self.done.wait(timeout)

    @property
    def registered(self):
        """How many engines are registered with the controller now."""
        return sum(e.connector.state == "connected" for e in self.engines)

    def _serve(self):
        gone = set()
        while len(gone) < len(self.engines):
            engine, item = self.inbox.get()
            if engine in gone or engine._handle(item):
                continue
            gone.add(engine)  # stopped, killed, or no controller for too long: it alone leaves
            self.reactor.callFromThread(engine.connector.stop)
        self.reactor.callFromThread(self.on_done)
        self.done.set()
