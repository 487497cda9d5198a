"""The multiengine interface on the controller: fan a call out, gather the replies.

Targets are resolved here (so an unknown id fails before anything is queued),
each target engine's FIFO queue gets one command, and the client gets one
reply with an entry per target, in target order. Results stream back as soon
as the last engine answers; nothing is kept here after that, so pending
results never accumulate on the controller. User data stays opaque bytes.
"""

from twisted.logger import Logger

from kernel import versions
from kernel.controller.engines import Command, share_frame
from kernel.controller.outputs import OutputForwarder
from kernel.controller.sessions import Session
from kernel.errors import BadRequest, InvalidEngineID, NoEnginesRegistered
from kernel.wire import framing, messages
from kernel.wire.messages import responder

PROPERTY_CHANGES = {"set_properties", "del_properties", "clear_properties", "reset"}


def resolve_targets(registry, targets, log_dir=lambda: "DIR/log"):
    """Turn ``'all'`` (or None), an id or a list of ids (``messages.TARGETS``) into a list of registered ids.

    ``log_dir()`` says where the logs are, for the error when no engine is registered.
    """
    if targets == "all" or targets is None:
        ids = registry.ids()
        if not ids:
            raise NoEnginesRegistered(
                f"There are no engines registered. Check the logs in {log_dir()} "
                "if you think there should have been."
            )
        return ids
    if isinstance(targets, int):
        targets = [targets]
    for t in targets:
        if registry.get(t) is None:
            raise InvalidEngineID(f"Engine with id {t} is not registered")
    return targets


def _death_is_success(done):
    """A killed engine may go before its reply gets out: for kill, that is success."""
    def on_done(eid, header, buffers):
        if header.get("status") == "error" and header.get("etype") == "EngineDied":
            header, buffers = messages.Reply.header(status="ok", value=None), []
        done(eid, header, buffers)

    return on_done


class Gather:
    """Collects one reply per target (a target may repeat), then answers the client once."""

    def __init__(self, session, rid, targets):
        self.session = session
        self.rid = rid
        self.targets = targets
        self.replies = {}
        self.answered = False

    def done_for(self, index):
        """The ``on_done`` of the command sent for ``targets[index]``."""
        return lambda eid, header, buffers: self.done(index, header, buffers)

    def done(self, index, header, buffers):
        self.replies[index] = (header, buffers)
        if len(self.replies) == len(self.targets):
            self._answer()

    def _answer(self):
        """One frame for the client: each reply's header (its own dict, reused) with ``id`` and ``n``."""
        entries, out = [], []
        for index, eid in enumerate(self.targets):
            entry, buffers = self.replies.pop(index)
            entry.pop("op", None)
            entry.pop("cid", None)
            entry["id"] = eid
            entry["n"] = len(buffers)
            entries.append(entry)
            out.extend(buffers)
        self.answered = True
        self.session.calls.pop(self.rid, None)
        self.session.send(messages.Result.header(rid=self.rid, results=entries), out)


class MultiEngineInterface:
    """The capability behind ``ipcontroller-mec.furl``."""

    name = "mec"
    max_frame = None

    def __init__(self, registry, controller):
        self.registry = registry
        self.controller = controller  # for kill(controller=True) and property-change news
        self.sessions = set()  # the connected clients

    def log_dir(self):
        config = getattr(self.controller, "config", None)
        base = getattr(config, "ipythondir", None)
        return f"{base}/log" if base else "DIR/log"

    def open_session(self, protocol):
        session = MultiEngineSession(self, protocol)
        self.sessions.add(session)
        return session


class MultiEngineSession(Session):
    log = Logger()
    channel = messages.MULTIENGINE

    def __init__(self, interface, protocol):
        self.interface = interface
        self.registry = interface.registry
        self.calls = {}  # rid -> (targets, commands) of each call not yet answered, for stop_calls
        super().__init__(protocol)

    def closed(self, reason):
        self.interface.sessions.discard(self)

    def _targets(self, header):
        return resolve_targets(self.registry, header.get("targets"), self.interface.log_dir)

    @responder(messages.MultiEngineCall)
    def _call(self, rid, header, buffers):
        method = header["method"]
        targets = self._targets(header)
        if not targets:
            self.send(messages.Result.header(rid=rid, results=[]))
            return
        args = header.get("args") or {}
        if "echo" in args and not self.registry.all_speak(versions.ECHO, targets):
            args = {key: value for key, value in args.items() if key != "echo"}  # they would refuse it: all echo
        stop_controller = method == "kill" and bool(args.get("controller"))
        if stop_controller:
            targets = self.registry.ids()
        per_target = header.get("per_target")
        if per_target is not None:
            if len(per_target) != len(targets):
                raise BadRequest(f"per_target needs one buffer count per target ({len(targets)}), "
                                 f"not {len(per_target)}")
            groups = framing.split(per_target, buffers, "per_target buffer counts")
        else:
            groups = [buffers] * len(targets)
        gather = Gather(self, rid, targets)
        streamed = {"stream": True} if header.get("stream") and method == "execute" else {}
        commands = []
        for index, group in enumerate(groups):
            on_done = gather.done_for(index)
            if method in PROPERTY_CHANGES:
                on_done = self._noting_property_change(on_done)
            if method == "kill":
                on_done = _death_is_success(on_done)
            if stop_controller:
                on_done = self._then_stop_controller(gather, on_done)
            forwarder = OutputForwarder(self, rid) if streamed else None
            if forwarder is not None:
                on_done = forwarder.then(on_done)
            command = Command(method, args, list(group), on_done, **streamed)
            command.on_output = forwarder
            commands.append(command)
        if per_target is None and len(targets) > 1 and len(set(targets)) == len(targets):
            share_frame(commands)  # the same call to each: one cid, encoded once
        self.calls[rid] = (targets, commands)
        for eid, command in zip(targets, commands):
            self.registry.get(eid).submit(command)

    def _noting_property_change(self, done):
        def on_done(eid, header, buffers):
            if header.get("status") == "ok":
                self.interface.controller.properties_changed(eid)
            done(eid, header, buffers)

        return on_done

    def _then_stop_controller(self, gather, done):
        def on_done(eid, header, buffers):
            done(eid, header, buffers)
            if not gather.replies and gather.answered:
                self.interface.controller.stop_soon("killed by a client")

        return on_done

    @responder(messages.GetIds)
    def _get_ids(self, rid, header, buffers):
        self.send(messages.Result.header(rid=rid, value=self.registry.ids()))

    @responder(messages.EngineInfo)
    def _engine_info(self, rid, header, buffers):
        """Read-only: each engine's id, pid, host, shared-memory host key and versions, the task scheme and
        how many relays hold the engines' connections."""
        engines = [{"id": eid, **{k: self.registry.get(eid).info.get(k)
                                  for k in ("pid", "host", "host_key", "versions")}}
                   for eid in self.registry.ids()]
        config = getattr(self.interface.controller, "config", None)
        self.send(messages.Result.header(
            rid=rid, value={"engines": engines, "scheme": getattr(config, "scheme", None),
                            "relays": getattr(config, "relays", 0)}))

    @responder(messages.EngineQueueStatus)
    def _queue_status(self, rid, header, buffers):
        targets = self._targets(header)
        status = [[eid, self.registry.get(eid).status()] for eid in targets]
        self.send(messages.Result.header(rid=rid, value=status))

    @responder(messages.ClearQueue)
    def _clear_queue(self, rid, header, buffers):
        targets = self._targets(header)
        for eid in targets:
            self.registry.get(eid).clear_queue()
        self.send(messages.Result.header(rid=rid, value=[None] * len(targets)))

    @responder(messages.StopCalls)
    def _stop_calls(self, rid, header, buffers):
        """Interrupt where they run, take back where they wait: this client's calls (its Ctrl-C)."""
        interrupted = set()
        for call in header["calls"]:
            targets, commands = self.calls.get(call, ((), ()))
            for eid, command in list(zip(targets, commands)):  # a cancel may answer the call meanwhile
                handle = self.registry.get(eid)
                if handle is None:
                    continue
                if handle.interrupt(command):
                    interrupted.add(eid)
                else:
                    handle.cancel(command, "QueueCleared", "was stopped by its client before it started")
        self.send(messages.Result.header(rid=rid, value=sorted(interrupted)))

    @responder(messages.InterruptEngines)
    def _interrupt(self, rid, header, buffers):
        targets = self._targets(header)
        for eid in targets:
            self.registry.get(eid).session.send(messages.Interrupt.header())
        self.send(messages.Result.header(rid=rid, value=[None] * len(targets)))
