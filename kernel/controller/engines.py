"""Registered engines as the controller sees them: ids, queues and liveness.

Each engine has a FIFO queue of commands from both interfaces. At most
``window`` commands are in flight at the engine (one running, the next ready,
so the engine never idles waiting for the controller); the rest wait here,
where ``clear_queue`` can still take them back. An engine is unregistered when
its connection drops or when it has been silent for the heartbeat timeout
(``kernel.controller.heartbeats``).
"""

import itertools
import re
from collections import deque

from twisted.logger import Logger

from kernel import versions
from kernel.controller.heartbeats import Heartbeats
from kernel.errors import MessageSizeError, ProtocolError
from kernel.settings import ControllerSettings
from kernel.wire import framing, messages
from kernel.wire.messages import responder

HOST_KEY = re.compile(r"[0-9a-f]{64}")
SHOWN_CODE = 200  # characters of an execute's code shown in queue_status and errors
UNSENDABLE = (MessageSizeError, ValueError, RecursionError)  # what encoding a command may raise
_cids = itertools.count(1)


class Command:
    """One call queued for one engine; ``on_done(eid, reply_header, buffers)``.

    Its ``cid`` is given when it is queued, so each engine's commands reach it
    in the order of their cids (an engine ignores a cancel for a cid below
    the last it started). ``frame`` is the call already encoded, when one
    frame serves several engines (``share_frame``). ``on_output(eid, header,
    buffers)``, if set, takes the ``output`` messages of a streamed call.
    """

    __slots__ = ("cid", "method", "args", "buffers", "on_done", "extra", "frame", "on_output")

    def __init__(self, method, args, buffers, on_done, **extra):
        self.cid = None
        self.method = method
        self.args = args
        self.buffers = buffers
        self.on_done = on_done
        self.extra = extra
        self.frame = None
        self.on_output = None

    def encode(self):
        """The call as a frame (``framing.encode``'s parts); MessageSizeError if it cannot be sent."""
        header = messages.Call.header(cid=self.cid, method=self.method)
        if self.args:
            header["args"] = self.args
        header.update(self.extra)
        return framing.encode(header, self.buffers)

    def describe(self):
        if self.method == "execute":
            code = self.args.get("code", "")
            return f"execute({code[:SHOWN_CODE]!r}{'…' if len(code) > SHOWN_CODE else ''})"
        if self.method == "run_task":
            return f"task {self.extra.get('taskid')}"
        return f"{self.method}()"


def share_frame(commands):
    """Give commands that differ only in their engine (one each) one cid and one encoded frame.

    A cid need only be unique among one engine's commands, so a call fanned
    out to many engines is encoded once for all of them. One that cannot be
    encoded is left to fail at each engine, as any such command does.
    """
    first = commands[0]
    first.cid = next(_cids)
    try:
        frame = first.encode()
    except UNSENDABLE:
        first.cid = None
        return
    for command in commands:
        command.cid, command.frame = first.cid, frame


def synthetic_error(etype, message, method=None):
    """A reply header for a command the engine never answered."""
    return messages.Reply.header(status="error", etype=etype, message=message, traceback="", method=method)


class EngineHandle:
    log = Logger()

    def __init__(self, eid, session, info, window):
        self.id = eid
        self.session = session
        self.info = info
        self.protocol = versions.protocol(info.get("versions", {}))  # the messages it understands
        self.window = window
        self.queue = deque()
        self.inflight = {}
        self.alive = True
        self.unstarted_tasks = set()

    def submit(self, command):
        if command.cid is None:
            command.cid = next(_cids)
        self.queue.append(command)
        self._pump()

    def _pump(self):
        while self.queue and len(self.inflight) < self.window:
            command = self.queue.popleft()
            try:
                frame = command.frame or command.encode()  # encoded before anything is written
            except UNSENDABLE as e:
                command.on_done(self.id, synthetic_error(
                    "MessageSizeError", f"{command.describe()} cannot be sent to engine {self.id}: {e}",
                    command.method), [])
                continue  # this command alone fails; the engine's slots stay free
            self.session.send_encoded(frame)
            self.inflight[command.cid] = command
            command.buffers = command.frame = None  # the bytes are the transport's now

    def done(self, header, buffers):
        command = self.inflight.pop(header.get("cid"), None)
        if command is None:
            raise ProtocolError(f"engine {self.id} answered an unknown command {header.get('cid')!r}")
        self._pump()
        command.on_done(self.id, header, buffers)

    def output(self, header, buffers):
        """Pass an ``output`` message to its command's ``on_output``; one for a command that has
        been answered, or that asked for none, is dropped."""
        if len(buffers) != 1:
            raise ProtocolError(f"engine {self.id} sent output with {len(buffers)} buffers, not 1")
        command = self.inflight.get(header.get("cid"))
        if command is not None and command.on_output is not None:
            command.on_output(self.id, header, buffers)

    def interrupt(self, command):
        """Interrupt ``command`` if it is the one the engine runs (or starts next); whether it is."""
        if not self.inflight or next(iter(self.inflight)) != command.cid:
            return False
        self.session.send(messages.Interrupt.header(cid=command.cid))
        return True

    def cancel(self, command, etype, why):
        """Take back ``command`` if the engine has not started it.

        Still queued here: it is answered at once with the error ``etype``
        (``command.describe()`` + ``why`` its message). Sent, behind the one
        running: the engine is asked to drop it, and still answers for it.
        Running or answered: nothing happens.
        """
        if command in self.queue:
            self.queue.remove(command)
            command.on_done(self.id, synthetic_error(etype, f"{command.describe()} {why}", command.method), [])
        elif command.cid in self.inflight and next(iter(self.inflight)) != command.cid:
            self.session.send(messages.Cancel.header(cids=[command.cid]))

    def clear_queue(self):
        """Fail every multiengine command not yet running with QueueCleared.

        Tasks stay queued: they belong to the scheduler, not to the caller.
        """
        cleared = [c for c in self.queue if c.method != "run_task"]
        kept = [c for c in self.queue if c.method == "run_task"]
        self.queue = deque(kept)
        waiting = [cid for cid, c in list(self.inflight.items())[1:] if c.method != "run_task"]
        if waiting:  # sent, but the engine may not have started them
            self.session.send(messages.Cancel.header(cids=waiting))
        for command in cleared:
            command.on_done(self.id, synthetic_error(
                "QueueCleared", f"{command.describe()} was removed from engine {self.id}'s queue",
                command.method), [])

    def status(self):
        running = list(self.inflight.values())
        pending = running[0].describe() if running else "None"
        return {"queue": [c.describe() for c in running[1:]] + [c.describe() for c in self.queue],
                "pending": pending}

    def fail_all(self, reason):
        """The engine is gone: every command it held fails with EngineDied.

        ``unstarted_tasks`` keeps the ids of tasks it had not begun: only the
        oldest command in flight can have been running.
        """
        self.alive = False
        inflight = list(self.inflight.values())
        commands = inflight + list(self.queue)
        self.unstarted_tasks = {c.extra["taskid"] for c in commands[1:] if c.method == "run_task"}
        self.inflight.clear()
        self.queue.clear()
        for command in commands:
            command.on_done(self.id, synthetic_error(
                "EngineDied", f"engine {self.id} died before finishing {command.describe()}: {reason}",
                command.method), [])


class EngineRegistry:
    """Hands out ids, tracks liveness and tells observers about arrivals and departures."""

    log = Logger()

    def __init__(self, clock, heartbeat_period=ControllerSettings.heartbeat_period,
                 heartbeat_timeout=ControllerSettings.heartbeat_timeout,
                 heartbeat_rate=ControllerSettings.heartbeat_rate, window=2):
        self.clock = clock
        self.window = window
        self.engines = {}
        self.behind = 0  # how many of them speak an older protocol than this controller
        self.observers = []
        self.heartbeats = Heartbeats(self, clock, heartbeat_period, heartbeat_timeout, heartbeat_rate)

    def start(self):
        self.heartbeats.start()

    def stop(self):
        self.heartbeats.stop()

    def ids(self):
        return sorted(self.engines)

    def get(self, eid):
        return self.engines.get(eid)

    def all_speak(self, revision, ids):
        """Whether the engines ``ids`` (registered) all understand the messages of protocol ``revision``."""
        return not self.behind or all(self.engines[eid].protocol >= revision for eid in ids)

    def register(self, session, desired_id, info):
        eid = desired_id if isinstance(desired_id, int) and desired_id >= 0 and desired_id not in self.engines else None
        if eid is None:
            eid = next(i for i in itertools.count() if i not in self.engines)
        handle = EngineHandle(eid, session, info, self.window)
        self.engines[eid] = handle
        self.behind += handle.protocol < versions.PROTOCOL
        self.log.info("engine {id} registered (pid {pid} on {host})", id=eid,
                      pid=info.get("pid"), host=info.get("host"))
        mismatch = versions.conflict(versions.local(), info.get("versions", {}), "the controller", f"engine {eid}")
        if mismatch:
            self.log.warn("{mismatch}", mismatch=mismatch)
        session.registered(handle)  # the engine learns its id before any command arrives
        for observer in self.observers:
            observer.engine_added(handle)
        return handle

    def unregister(self, handle, reason):
        if self.engines.get(handle.id) is not handle:
            return
        del self.engines[handle.id]
        self.behind -= handle.protocol < versions.PROTOCOL
        self.log.info("engine {id} unregistered: {reason}", id=handle.id, reason=reason)
        handle.fail_all(reason)
        for observer in self.observers:
            observer.engine_removed(handle, reason)

def _host_key(value):
    """An engine's shared-memory host key (64 hex digits), kept only for clients to compare; else None."""
    return value if isinstance(value, str) and HOST_KEY.fullmatch(value) else None


class EngineInterface:
    """The capability behind ``ipcontroller-engine.furl``: register as an engine."""

    name = "engine"
    max_frame = None

    def __init__(self, registry):
        self.registry = registry

    def open_session(self, protocol):
        return EngineSession(self.registry, protocol)


class EngineSession:
    """One engine's connection: registration, replies and heartbeats.

    An engine's message that does not match its declaration is a
    ProtocolError: the connection closes, and the engine with it.
    """

    channel = messages.FROM_ENGINE

    def __init__(self, registry, protocol):
        self.registry = registry
        self.protocol = protocol
        self.handle = None
        self.handlers = self.channel.responders(self)
        self.last_sent = registry.clock.seconds()  # when this side last wrote: the engine heard it then
        self.told_period = registry.heartbeats.period  # the heartbeat period the engine was last told

    def send(self, header, buffers=()):
        self.protocol.send(header, buffers)
        self.last_sent = self.registry.clock.seconds()

    def send_encoded(self, parts):
        """Send a frame ``framing.encode`` made (one for many engines: a beat, a broadcast's call)."""
        self.protocol.send_encoded(parts)
        self.last_sent = self.registry.clock.seconds()

    def last_heard(self):
        """When bytes last came from the engine: a big frame still arriving counts."""
        return self.protocol.last_received

    def abort(self):
        self.protocol.abort()

    def message(self, header, buffers):
        self.handlers[self.channel.decode(header)](header, buffers)

    def checked_message(self, header, buffers):
        """A message a relay has already checked against the channel (``kernel.controller.relay``)."""
        self.handlers[self.channel.messages[header["op"]]](header, buffers)

    @responder(messages.Register)
    def _register(self, header, buffers):
        if self.handle is not None:
            raise ProtocolError("engine registered twice on one connection")
        info = {"pid": header.get("pid"), "host": str(header.get("host"))[:255],
                "host_key": _host_key(header.get("host_key")), "peer": self.protocol.peer(),
                "versions": versions.received(header.get("versions"))}
        self.registry.register(self, header.get("desired_id"), info)

    def registered(self, handle):
        self.handle = handle
        period, timeout = self.registry.heartbeats.now()
        self.told_period = period
        self.send(messages.Registered.header(id=handle.id, heartbeat_period=period, heartbeat_timeout=timeout))

    @responder(messages.Reply)
    def _reply(self, header, buffers):
        if self.handle is None:
            raise ProtocolError("reply from an unregistered engine")
        self.handle.done(header, buffers)

    @responder(messages.Output)
    def _output(self, header, buffers):
        if self.handle is None:
            raise ProtocolError("output from an unregistered engine")
        self.handle.output(header, buffers)

    @responder(messages.Heartbeat)
    def _hb(self, header, buffers):
        pass

    def closed(self, reason):
        if self.handle is not None:
            self.registry.unregister(self.handle, f"connection lost ({reason.getErrorMessage()})")
