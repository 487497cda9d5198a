"""The multiengine interface on the controller: fan a call out, gather the replies.

Targets are resolved here (so an unknown id fails before anything is queued),
each target engine's FIFO queue gets one command, and the client gets one
reply with an entry per target, in target order. Results stream back as soon
as the last engine answers; nothing is kept here after that, so pending
results never accumulate on the controller. User data stays opaque bytes.
"""

from twisted.logger import Logger

from kernel.controller.engines import Command
from kernel.errors import InvalidEngineID, NoEnginesRegistered, ProtocolError

ENGINE_METHODS = {
    "execute", "push", "pull", "get_result", "reset", "keys", "kill",
    "set_properties", "get_properties", "has_properties", "del_properties", "clear_properties",
}
PROPERTY_CHANGES = {"set_properties", "del_properties", "clear_properties", "reset"}


def resolve_targets(registry, targets):
    """Turn ``'all'``, an int or a list of ints into a list of registered ids."""
    if targets == "all":
        ids = registry.ids()
        if not ids:
            raise NoEnginesRegistered(
                "There are no engines registered. Check the logs in DIR/log "
                "if you think there should have been."
            )
        return ids
    if isinstance(targets, int) and not isinstance(targets, bool):
        targets = [targets]
    if not isinstance(targets, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in targets):
        raise ProtocolError(f"bad targets {targets!r}")
    for t in targets:
        if registry.get(t) is None:
            raise InvalidEngineID(f"Engine with id {t} is not registered")
    return targets


class Gather:
    """Collects one reply per target, then answers the client once."""

    def __init__(self, session, rid, targets):
        self.session = session
        self.rid = rid
        self.targets = targets
        self.replies = {}

    def done(self, eid, header, buffers):
        self.replies[eid] = (header, buffers)
        if len(self.replies) == len(self.targets):
            self._answer()

    def _answer(self):
        entries, out = [], []
        for eid in self.targets:
            header, buffers = self.replies[eid]
            entry = {k: v for k, v in header.items() if k not in ("op", "cid")}
            entry["id"] = eid
            entry["n"] = len(buffers)
            entries.append(entry)
            out.extend(buffers)
        self.session.send({"op": "result", "rid": self.rid, "results": entries}, out)


class MultiEngineInterface:
    """The capability behind ``ipcontroller-mec.furl``."""

    name = "mec"
    max_frame = None

    def __init__(self, registry, controller):
        self.registry = registry
        self.controller = controller  # for kill(controller=True) and property-change news

    def open_session(self, protocol):
        return MultiEngineSession(self, protocol)


class MultiEngineSession:
    log = Logger()

    def __init__(self, interface, protocol):
        self.interface = interface
        self.registry = interface.registry
        self.protocol = protocol
        self.handlers = {
            "call": self._call,
            "get_ids": self._get_ids,
            "queue_status": self._queue_status,
            "clear_queue": self._clear_queue,
            "interrupt": self._interrupt,
        }

    def send(self, header, buffers=()):
        self.protocol.send(header, buffers)

    def message(self, header, buffers):
        handler = self.handlers.get(header["op"])
        if handler is None:
            raise ProtocolError(f"unknown multiengine message {header['op']!r}")
        rid = header.get("rid")
        try:
            handler(rid, header, buffers)
        except (InvalidEngineID, NoEnginesRegistered) as e:
            self.send({"op": "error", "rid": rid, "etype": type(e).__name__, "message": str(e)})

    def closed(self, reason):
        pass

    def _targets(self, header):
        return resolve_targets(self.registry, header.get("targets", "all"))

    def _call(self, rid, header, buffers):
        method = header.get("method")
        if method not in ENGINE_METHODS:
            raise ProtocolError(f"no multiengine method {method!r}")
        targets = self._targets(header)
        if not targets:
            self.send({"op": "result", "rid": rid, "results": []})
            return
        if method == "kill" and header.get("args", {}).get("controller"):
            targets = self.registry.ids()
        per_target = header.get("per_target")
        if per_target is not None:
            if not isinstance(per_target, list) or len(per_target) != len(targets) or sum(per_target) != len(buffers):
                raise ProtocolError("per_target buffer counts do not match the targets")
            groups, at = [], 0
            for n in per_target:
                groups.append(buffers[at:at + n])
                at += n
        else:
            groups = [buffers] * len(targets)
        gather = Gather(self, rid, targets)
        on_done = gather.done
        if method in PROPERTY_CHANGES:
            on_done = self._noting_property_change(gather.done)
        if method == "kill" and header.get("args", {}).get("controller"):
            on_done = self._then_stop_controller(gather, len(targets))
        args = header.get("args") or {}
        for eid, group in zip(targets, groups):
            self.registry.get(eid).submit(Command(method, args, list(group), on_done))

    def _noting_property_change(self, done):
        def on_done(eid, header, buffers):
            if header.get("status") == "ok":
                self.interface.controller.properties_changed(eid)
            done(eid, header, buffers)

        return on_done

    def _then_stop_controller(self, gather, count):
        def on_done(eid, header, buffers):
            gather.done(eid, header, buffers)
            if len(gather.replies) == count:
                self.interface.controller.stop_soon("killed by a client")

        return on_done

    def _get_ids(self, rid, header, buffers):
        self.send({"op": "result", "rid": rid, "value": self.registry.ids()})

    def _queue_status(self, rid, header, buffers):
        targets = self._targets(header)
        status = [[eid, self.registry.get(eid).status()] for eid in targets]
        self.send({"op": "result", "rid": rid, "value": status})

    def _clear_queue(self, rid, header, buffers):
        targets = self._targets(header)
        for eid in targets:
            self.registry.get(eid).clear_queue()
        self.send({"op": "result", "rid": rid, "value": [None] * len(targets)})

    def _interrupt(self, rid, header, buffers):
        targets = self._targets(header)
        for eid in targets:
            self.registry.get(eid).session.send({"op": "interrupt"})
        self.send({"op": "result", "rid": rid, "value": [None] * len(targets)})
