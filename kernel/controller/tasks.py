"""The task interface on the controller: the scheduler wired to engines and clients.

The scheduler (``scheduler.py``) decides; this module performs its actions:
a Dispatch becomes a ``run_task`` command on the engine's queue, a Finish
becomes a stored result and answers to whoever waits for it. Task payloads
are opaque buffers from the client; the controller never looks inside.
"""

from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from kernel import paths
from kernel.controller.dependencies import Dependency
from kernel.controller.engines import Command
from kernel.controller.scheduler import Dispatch, Scheduler, TaskSpec
from kernel.controller.taskstore import TaskStore
from kernel.errors import ProtocolError

OUTCOME = {"ok": "success", "error": "failure", "declined": "declined", "unmet": "unmet"}
TICK = 0.25


class _Live:
    """A task that has not finished: its chain of (spec, kind, payload)."""

    __slots__ = ("taskid", "chain", "submitted", "last")

    def __init__(self, taskid, chain, submitted):
        self.taskid = taskid
        self.chain = chain
        self.submitted = submitted
        self.last = None  # (eid, kind, reply header, buffers) of the latest attempt

    def find(self, spec):
        for candidate, kind, payload in self.chain:
            if candidate is spec:
                return kind, payload
        raise KeyError(spec)


def _dependency(wire):
    if wire is None:
        return None
    return Dependency(frozenset(wire["ids"]), wire["all"], wire["success"], wire["failure"])


def _spec(taskid, wire, recovery):
    for key in ("retries", "timeout"):
        value = wire.get(key)
        if value is not None and (not isinstance(value, (int, float)) or value < 0):
            raise ProtocolError(f"bad {key} {value!r} in a task")
    return TaskSpec(taskid=taskid, retries=int(wire.get("retries") or 0),
                    has_depend=bool(wire.get("has_depend")), after=_dependency(wire.get("after")),
                    follow=_dependency(wire.get("follow")), timeout=wire.get("timeout"),
                    recovery=recovery)


class TaskController:
    log = Logger()

    def __init__(self, service):
        self.clock = service.reactor
        self.registry = service.registry
        self.scheduler = Scheduler(service.config.scheme)
        self.store = TaskStore(paths.db_dir(service.config.ipythondir) / "tasks.sqlite", self.clock)
        self.store.reset()
        self.live = {}
        self.waiters = {}  # taskid -> [callback(taskid)]
        self.next_id = 0  # ids are sequential and never reused by one controller
        self._tick = LoopingCall(self._on_tick)
        self._tick.clock = self.clock
        self.registry.observers.append(self)

    def start(self):
        self._tick.start(TICK, now=False)

    def stop(self):
        if self._tick.running:
            self._tick.stop()
        self.store.close()

    def now(self):
        return self.clock.seconds()

    # -- events from engines and clients ----------------------------------------

    def engine_added(self, handle):
        self.perform(self.scheduler.add_engine(handle.id, self.now()))

    def engine_removed(self, handle, reason):
        self.perform(self.scheduler.remove_engine(handle.id, self.now(), reason))

    def properties_changed(self, eid):
        if self.registry.get(eid) is not None:
            self.perform(self.scheduler.properties_changed(eid, self.now()))

    def _on_tick(self):
        self.perform(self.scheduler.tick(self.now()))

    def submit(self, chain_wire, payloads):
        """Accept one task (its recovery chain included); return its id."""
        taskid = self.next_id
        self.next_id += 1
        spec = None
        for wire in reversed(chain_wire):
            spec = _spec(taskid, wire, spec)
        specs, at = [], spec
        while at is not None:
            specs.append(at)
            at = at.recovery
        chain = [(s, wire.get("kind"), payload) for s, wire, payload in zip(specs, chain_wire, payloads)]
        self.live[taskid] = _Live(taskid, chain, self.now())
        self.store.put_task(taskid, {"chain": chain_wire, "counts": [len(p) for p in payloads]},
                            [b for p in payloads for b in p])
        self.perform(self.scheduler.submit(spec, self.now()))
        return taskid

    def perform(self, actions):
        for action in actions:
            if isinstance(action, Dispatch):
                self._dispatch(action)
            else:
                self._finish(action)

    def _dispatch(self, action):
        live = self.live[action.taskid]
        kind, payload = live.find(action.spec)
        handle = self.registry.get(action.eid)

        def done(eid, header, buffers):
            self._task_done(action.taskid, kind, eid, header, buffers)

        handle.submit(Command("run_task", None, list(payload), done, taskid=action.taskid))

    def _task_done(self, taskid, kind, eid, header, buffers):
        if self.registry.get(eid) is None:
            return  # the engine is gone; the scheduler hears of it from engine_removed
        status = header.get("status")
        if status not in OUTCOME:
            raise ProtocolError(f"engine {eid} reported task {taskid} as {status!r}")
        live = self.live.get(taskid)
        if live is not None:
            live.last = (eid, kind, header, buffers)
        self.perform(self.scheduler.task_done(taskid, eid, OUTCOME[status], self.now()))

    def _finish(self, action):
        live = self.live.pop(action.taskid)
        meta = {"taskid": action.taskid, "submitted": live.submitted, "completed": self.now(),
                "status": "succeeded" if action.succeeded else "failed", "kind": live.chain[0][1]}
        buffers = []
        if action.error is not None:
            meta["error"] = {"etype": action.error, "message": action.message, "traceback": ""}
        elif live.last is not None:
            eid, kind, header, buffers = live.last
            meta.update(engineid=eid, kind=kind, started=header.get("started"), finished=header.get("finished"))
            if not action.succeeded:
                meta["error"] = {k: header.get(k) for k in ("etype", "message", "traceback")}
        self.store.put_result(action.taskid, meta, buffers)
        for callback in self.waiters.pop(action.taskid, ()):
            callback(action.taskid)

    # -- queries ---------------------------------------------------------------------

    def known(self, taskid):
        return 0 <= taskid < self.next_id

    def when_finished(self, taskids, callback):
        """Call ``callback()`` once every task in ``taskids`` has finished."""
        left = {t for t in taskids if t in self.live}
        if not left:
            callback()
            return

        def one_done(taskid):
            left.discard(taskid)
            if not left:
                callback()

        for taskid in left:
            self.waiters.setdefault(taskid, []).append(one_done)


class TaskInterface:
    """The capability behind ``ipcontroller-tc.furl``."""

    name = "tc"
    max_frame = None

    def __init__(self, controller):
        self.controller = controller

    @classmethod
    def for_controller(cls, service):
        return cls(TaskController(service))

    def start(self):
        self.controller.start()

    def stop(self):
        self.controller.stop()

    def properties_changed(self, eid):
        self.controller.properties_changed(eid)

    def open_session(self, protocol):
        return TaskSession(self.controller, protocol)


def _int_ids(value, what="task id"):
    ids = value if isinstance(value, list) else [value]
    for taskid in ids:
        if not isinstance(taskid, int) or isinstance(taskid, bool):
            raise TypeError(f"a {what} must be an int, not {taskid!r}")
    return ids


class TaskSession:
    """One client's connection to the task interface."""

    log = Logger()

    def __init__(self, controller, protocol):
        self.controller = controller
        self.protocol = protocol
        self.open = True
        self.handlers = {
            "run": self._run,
            "get_results": self._get_results,
            "barrier": self._barrier,
            "queue_status": self._queue_status,
            "abort": self._abort,
            "spin": self._spin,
            "clear": self._clear,
            "resubmit": self._resubmit,
        }

    def send(self, header, buffers=()):
        if self.open:
            self.protocol.send(header, buffers)

    def closed(self, reason):
        self.open = False

    def message(self, header, buffers):
        handler = self.handlers.get(header["op"])
        if handler is None:
            raise ProtocolError(f"unknown task message {header['op']!r}")
        rid = header.get("rid")
        try:
            handler(rid, header, buffers)
        except (TypeError, IndexError, ValueError) as e:
            self.send({"op": "error", "rid": rid, "etype": type(e).__name__, "message": str(e)})

    def _run(self, rid, header, buffers):
        tasks, counts = header.get("tasks"), header.get("counts")
        if not isinstance(tasks, list) or not isinstance(counts, list) or sum(counts) != len(buffers):
            raise ProtocolError("run: tasks and buffer counts do not match")
        groups, at = [], 0
        for n in counts:
            groups.append(buffers[at:at + n])
            at += n
        taskids, g = [], 0
        for chain in tasks:
            if not isinstance(chain, list) or not chain or not all(isinstance(w, dict) for w in chain):
                raise ProtocolError("run: each task is a non-empty list of specs")
            taskids.append(self.controller.submit(chain, groups[g:g + len(chain)]))
            g += len(chain)
        self.send({"op": "result", "rid": rid, "value": taskids})

    def _check_known(self, taskids):
        for taskid in taskids:
            if not self.controller.known(taskid):
                raise IndexError(f"No task #{taskid}")

    def _get_results(self, rid, header, buffers):
        taskids = _int_ids(header.get("taskids"))
        self._check_known(taskids)
        if header.get("block"):
            self.controller.when_finished(taskids, lambda: self._send_results(rid, taskids))
        else:
            self._send_results(rid, taskids)

    def _send_results(self, rid, taskids):
        entries, out = [], []
        for taskid in taskids:
            found = None if taskid in self.controller.live else self.controller.store.get_result(taskid)
            if found is None:
                entries.append(None if taskid in self.controller.live else {"taskid": taskid, "cleared": True})
                continue
            meta, buffers = found
            entries.append(dict(meta, n=len(buffers)))
            out.extend(buffers)
        self.send({"op": "result", "rid": rid, "value": entries}, out)

    def _barrier(self, rid, header, buffers):
        taskids = _int_ids(header.get("taskids"))
        self.controller.when_finished(taskids, lambda: self.send({"op": "result", "rid": rid, "value": None}))

    def _queue_status(self, rid, header, buffers):
        status = self.controller.scheduler.status(bool(header.get("verbose")))
        self.send({"op": "result", "rid": rid, "value": status})

    def _abort(self, rid, header, buffers):
        [taskid] = _int_ids(header.get("taskid"))
        if not self.controller.known(taskid):
            raise IndexError(f"No task #{taskid}")
        self.controller.perform(self.controller.scheduler.abort(taskid, self.controller.now()))
        self.send({"op": "result", "rid": rid, "value": None})

    def _spin(self, rid, header, buffers):
        self.controller.perform(self.controller.scheduler.tick(self.controller.now()))
        self.send({"op": "result", "rid": rid, "value": None})

    def _clear(self, rid, header, buffers):
        taskids = header.get("taskids")
        if taskids is not None:
            taskids = [t for t in _int_ids(taskids) if t not in self.controller.live]
        self.controller.store.delete_results(taskids)
        self.send({"op": "result", "rid": rid, "value": None})

    def _resubmit(self, rid, header, buffers):
        [taskid] = _int_ids(header.get("taskid"))
        found = self.controller.store.get_task(taskid)
        if found is None or taskid in self.controller.live:
            raise IndexError(f"task {taskid} has not finished (or is unknown): only finished tasks can be resubmitted")
        meta, stored = found
        groups, at = [], 0
        for n in meta["counts"]:
            groups.append(stored[at:at + n])
            at += n
        self.send({"op": "result", "rid": rid, "value": self.controller.submit(meta["chain"], groups)})
