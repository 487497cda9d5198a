"""The task interface on the controller: the scheduler wired to engines and clients.

The scheduler (``scheduler.py``) decides; :class:`TaskController` performs
its actions: a Dispatch becomes a ``run_task`` command on the engine's queue
(its ``EngineHandle``), a Finish becomes a stored result (``taskstore.py``)
and answers to whoever waits for it. The controller is given its clock,
engine registry, store, settings and scheduler; ``TaskController.open``
makes them from the controller's configuration. Questions that change
nothing (status, records, results, timelines) are answered by its
:class:`~kernel.controller.taskqueries.TaskQueries`. :class:`TaskSession`
decodes a client's requests through ``kernel.wire.messages`` and asks the
two. Task payloads are opaque buffers from the client; the controller never
looks inside.

Memory: a task's payload is held only while it is unfinished. A finished
task leaves its result and definition in the SQLite store
(``DIR/db/tasks.sqlite``) and, in memory, only the scheduler's few bytes of
outcome (for dependencies and ``queue_status``). A refused task leaves only
its id and reason, among the last few thousand (``refusals.py``).
"""

from collections import deque

from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from kernel import paths
from kernel.controller.dependencies import Dependency
from kernel.controller.engines import Command
from kernel.controller.events import (AbortTask, Dispatch, EngineAdded, EngineRemoved, Outcome, PropertiesChanged,
                                      Reason, Spin, State, TaskDone, TaskForgotten, TaskRestored, TaskSpec,
                                      TaskSubmitted, Tick)
from kernel.controller.idbitmap import IdBitmap
from kernel.controller.refusals import Refusals
from kernel.controller.scheduler import Scheduler
from kernel.controller.sessions import Session
from kernel.controller.taskqueries import TaskQueries
from kernel.controller.taskstop import StopsTasks
from kernel.controller.taskstore import TaskStore
from kernel.errors import BadRequest, NoSuchTask, ProtocolError, StaleLease, TaskNotFinished
from kernel.values import is_int
from kernel.wire import framing, messages
from kernel.wire.messages import responder

OUTCOME = {"ok": Outcome.SUCCESS, "error": Outcome.FAILURE, "declined": Outcome.DECLINED, "unmet": Outcome.UNMET}


class _Live:
    """A task that has not finished: its chain of (spec, kind, payload) and its latest attempt."""

    __slots__ = ("taskid", "chain", "submitted", "kind", "eid", "command", "last")

    def __init__(self, taskid, chain, submitted):
        self.taskid = taskid
        self.chain = chain
        self.submitted = submitted
        self.kind = chain[0][1]  # of the spec running now (a recovery task may be another kind)
        self.eid = None  # the engine of the latest dispatch
        self.command = None  # its Command, until the engine answers
        self.last = None  # (eid, kind, reply header, buffers) of the latest answered attempt

    def find(self, spec):
        for candidate, kind, payload in self.chain:
            if candidate is spec:
                return kind, payload
        raise KeyError(spec)


class _Waiter:
    """Someone waiting for a set of tasks to finish (see ``when_finished``)."""

    __slots__ = ("left", "callback", "cancelled")

    def __init__(self, left, callback):
        self.left = left
        self.callback = callback
        self.cancelled = False


def _dependency(wire):
    """A dependency as ``messages.DEPENDENCY`` declares it (checked where the run was decoded)."""
    if wire is None:
        return None
    return Dependency(frozenset(wire["ids"]), wire["all"], wire["success"], wire["failure"])


def _spec(taskid, wire, recovery):
    """A task's spec as ``messages.TASK_SPEC`` declares it (checked where the run was decoded)."""
    return TaskSpec(taskid=taskid, retries=wire["retries"], has_depend=wire["has_depend"],
                    after=_dependency(wire.get("after")), follow=_dependency(wire.get("follow")),
                    timeout=wire.get("timeout") or None, recovery=recovery)


class TaskController:
    """The controller's task state: the scheduler, live tasks, waiters and the store.

    ``clock`` is the reactor's time (``seconds``, ``callLater``); ``registry``
    the ``EngineRegistry``, whose arrivals and departures it observes;
    ``store`` a ``TaskStore``, reloaded here (unfinished tasks queue again);
    ``settings`` a ``ControllerSettings`` (lease_wait, finished_kept, the
    periods, retention); ``scheduler`` a fresh ``Scheduler``.
    """

    log = Logger()

    def __init__(self, clock, registry, store, settings, scheduler):
        self.clock = clock
        self.registry = registry
        self.store = store
        self.settings = settings
        self.scheduler = scheduler
        self.engines = {}  # id -> EngineHandle, of the engines the scheduler knows
        self.live = {}  # taskid -> _Live, until it finishes
        self.queries = TaskQueries(scheduler, self.live, store)
        self.waiters = {}  # taskid -> [_Waiter]
        self.expected = {}  # taskid -> [_Waiter] for a leased id not submitted yet (when_submitted)
        self.refusals = Refusals()  # leased ids whose run was refused, and why (memory only)
        self._stored_pending = {}  # session -> rids of runs to answer once the store is flushed
        self.next_id = self.store.next_id()  # sequential, never reused, also across restarts
        self.accepted = IdBitmap(self.next_id)  # of the ids leased since this start, those accepted
        self._finished = deque()  # finished tasks the scheduler still remembers, oldest first
        self._tick = LoopingCall(self._on_tick)
        self._tick.clock = self.clock
        self._prune = LoopingCall(self.prune)
        self._prune.clock = self.clock
        self._reload()
        self.registry.observers.append(self)
        for handle in list(self.registry.engines.values()):
            self.engine_added(handle)

    @classmethod
    def open(cls, clock, registry, config):
        """A controller as ``config`` (a ``ControllerConfig``) says: its scheme and limits, and the
        store in its directory (emptied first with ``reset_db``)."""
        store = TaskStore.open(paths.db_dir(config.ipythondir), clock, reset=config.reset_db)
        scheduler = Scheduler(config.scheme, poison_after=config.poison_after, round_delay=config.round_delay)
        return cls(clock, registry, store, config, scheduler)

    def _reload(self):
        """After a restart: old outcomes count for dependencies, unfinished tasks queue again."""
        for taskid, succeeded in self.store.outcomes():
            self.scheduler.handle(TaskRestored(taskid, succeeded))
            self._note_finished(taskid)
        requeued = 0
        for taskid, meta, stored, failures in self.store.unfinished():
            chain = [dict(wire) for wire in meta["chain"]]
            chain[0]["retries"] = max(0, (chain[0].get("retries") or 0) - failures)
            groups = framing.split(meta["counts"], stored)
            self._accept(taskid, chain, groups, meta.get("submitted", self.now()), store=False)
            requeued += 1
        if requeued or self.next_id:
            self.log.info("task store reloaded: {n} unfinished tasks queued again, next id {next}",
                          n=requeued, next=self.next_id)

    def start(self):
        if not self._tick.running:
            self._tick.start(self.settings.task_check_period, now=False)
        if (self.settings.max_results or self.settings.result_ttl) and not self._prune.running:
            self._prune.start(self.settings.prune_period, now=True)

    def stop(self):
        for loop in (self._tick, self._prune):
            if loop.running:
                loop.stop()
        self._answer_stored()
        self.store.close()

    def prune(self):
        """Apply --max-results and --result-ttl to the stored results."""
        ttl = self.settings.result_ttl
        dropped = self.store.prune(self.settings.max_results, self.now() - ttl if ttl else None)
        if dropped:
            self.log.info("retention: dropped {n} stored results", n=dropped)

    def now(self):
        return self.clock.seconds()

    # -- events from engines and clients ----------------------------------------

    def engine_added(self, handle):
        self.engines[handle.id] = handle
        self.perform(self.scheduler.handle(EngineAdded(handle.id)))

    def engine_removed(self, handle, reason):
        if self.engines.get(handle.id) is handle:
            del self.engines[handle.id]
            self.perform(self.scheduler.handle(EngineRemoved(handle.id, self.now(), reason,
                                                             frozenset(handle.unstarted_tasks))))

    def properties_changed(self, eid):
        """An engine's properties changed (set, del or clear_properties, or reset, done)."""
        if eid in self.engines:
            self.perform(self.scheduler.handle(PropertiesChanged(eid)))

    def _on_tick(self):
        self.perform(self.scheduler.handle(Tick(self.now())))

    def spin(self):
        """Run the scheduler once, giving tasks every engine refused their next round at once;
        whether that started a task (0.10's spin() said so)."""
        actions = self.scheduler.handle(Spin(self.now()))
        self.perform(actions)
        return any(isinstance(action, Dispatch) for action in actions)

    def submit(self, chain_wire, payloads, taskid=None, leased_from=None):
        """Accept one task (its recovery chain included); return its id.

        ``taskid`` is one a client leased. Sent again (the client did not see
        the answer before a reconnect), it is accepted once: the first stays;
        one refused before is refused again, for the same reason (questions
        about it were answered with that refusal). ``leased_from`` names the
        store that leased it: one reset since (``--reset-db``) has given the
        same ids out afresh, so an old one is refused, not taken for a resend.
        """
        if leased_from is not None and taskid is not None and leased_from != self.store.ident:
            raise StaleLease(f"task id {taskid} was leased from a task store that is gone (the controller "
                             "was started with --reset-db since): it was not run; its client leases new ids")
        if taskid is None:
            taskid = self.next_id
        elif not 0 <= taskid < self.next_id:
            raise BadRequest(f"task id {taskid} was never leased")
        elif self.submitted(taskid):
            return taskid
        elif taskid in self.refusals:
            raise self.refusals.reason(taskid)
        return self._accept(taskid, chain_wire, payloads, self.now(), store=True)

    def answer_once_stored(self, session, rid):
        """Say "stored" for a run the client did not wait for, after one flush for the whole turn.

        A client sending tasks one by one gets them all answered in one frame
        per reactor turn, behind one transaction, not one of each per task.
        """
        if not self._stored_pending:
            self.clock.callLater(0, self._answer_stored)
        self._stored_pending.setdefault(session, []).append(rid)

    def _answer_stored(self):
        pending, self._stored_pending = self._stored_pending, {}
        if not pending:
            return  # answered already, by stop()
        self.store.flush()
        for session, rids in pending.items():
            session.send(messages.Stored.header(rids=rids))

    def lease(self, n):
        """Give out ``n`` fresh ids, so a client can name its tasks without waiting for answers."""
        first = self.next_id
        self.next_id += n
        self.store.note_leased(self.next_id)
        return first

    def _accept(self, taskid, chain_wire, payloads, submitted, store):
        spec = None
        for wire in reversed(chain_wire):
            spec = _spec(taskid, wire, spec)
            for dep in (spec.after, spec.follow):
                for prerequisite in dep.ids if dep is not None else ():
                    self._remember(prerequisite)
        self.next_id = max(self.next_id, taskid + 1)
        if self.accepted.covers(taskid):
            self.accepted.add(taskid)
        specs, at = [], spec
        while at is not None:
            specs.append(at)
            at = at.recovery
        chain = [(s, wire.get("kind"), payload) for s, wire, payload in zip(specs, chain_wire, payloads)]
        self.live[taskid] = _Live(taskid, chain, submitted)
        self._arrived(taskid)
        if store:
            self.store.put_task(taskid, {"chain": chain_wire, "counts": [len(p) for p in payloads],
                                         "submitted": submitted}, [b for p in payloads for b in p])
        self.perform(self.scheduler.handle(TaskSubmitted(spec, self.now())))
        return taskid

    def when_submitted(self, taskids, callback):
        """Call ``callback(error)`` once every id of ``taskids`` was submitted (``error`` None),
        one was refused (its refusal), or after ``lease_wait`` (a NoSuchTask naming one missing).

        A client names its tasks with leased ids and sends them without
        waiting, so another request (from it, after a reconnect, or from
        another client) may ask about an id before its task arrives: it waits
        for the task, and only an id still missing after ``lease_wait`` (its
        client died first) is missing. Returns a token for ``cancel_wait``.
        """
        waiter = _Waiter(set(taskids), None)

        def expired():
            if not waiter.cancelled:
                missing = min(waiter.left)
                self.cancel_wait(waiter)
                callback(NoSuchTask(
                    f"task {missing} was leased by a client but not submitted within "
                    f"{self.settings.lease_wait:g} s: that client may have died before sending it"))

        timer = self.clock.callLater(self.settings.lease_wait, expired)

        def arrived(error=None):
            if timer.active():
                timer.cancel()
            callback(error)

        waiter.callback = arrived
        for taskid in waiter.left:
            self.expected.setdefault(taskid, []).append(waiter)
        return waiter

    def _arrived(self, taskid):
        for waiter in self.expected.pop(taskid, ()):
            waiter.left.discard(taskid)
            if not waiter.left and not waiter.cancelled:
                waiter.callback()

    def leased_only(self, taskids, known):
        """Which of ``taskids``, not among ``known``, were given out (leased) but not submitted yet."""
        return {t for t in set(taskids) - known if 0 <= t < self.next_id}

    def refuse(self, taskids, error):
        """The run of ``taskids`` was refused with ``error``: remember it for those leased and not
        submitted, and answer who waits for them with it (see ``refusals``)."""
        refused = [t for t in taskids if is_int(t) and 0 <= t < self.next_id and not self.submitted(t)]
        if not refused:
            return
        self.refusals.note(refused, error)
        self.log.info("tasks {ids} refused: {etype}: {message}", ids=refused, etype=type(error).__name__,
                      message=str(error))
        for taskid in refused:
            for waiter in self.expected.pop(taskid, ()):
                if not waiter.cancelled:
                    self.cancel_wait(waiter)
                    waiter.callback(self.refusals.error([taskid]))

    def _remember(self, taskid):
        """Make sure the scheduler knows a finished task it may have forgotten."""
        if not self.scheduler.knows(taskid) and self.submitted(taskid):
            found = self.store.get_result(taskid)
            if found is not None:
                self.scheduler.handle(TaskRestored(taskid, found[0]["status"] == State.SUCCEEDED, counted=False))
                self._note_finished(taskid)

    def _note_finished(self, taskid):
        self._finished.append(taskid)
        while len(self._finished) > self.settings.finished_kept:  # older ones are read back from the store
            self.scheduler.handle(TaskForgotten(self._finished.popleft()))

    def abort(self, taskid):
        """Fail the task with TaskAborted; a dispatched copy that has not started is cancelled."""
        self._remember(taskid)
        live = self.live.get(taskid)
        actions = self.scheduler.handle(AbortTask(taskid))  # NoSuchTask, TaskAlreadyFinished
        self.perform(actions)
        handle = self.registry.get(live.eid) if live is not None and live.command is not None else None
        if handle is not None:
            handle.cancel(live.command, Reason.TASK_ABORTED.value, "was aborted before it started")

    def flush(self):
        """Put every accepted task and result on disk now (before ids are given out, say)."""
        self.store.flush()

    def clear(self, taskids=None):
        """Forget finished results (all when None): ``(how many went, the ids never given out)``.

        Unfinished tasks keep theirs."""
        unknown = []
        if taskids is not None:
            known = self.known_among(taskids)
            unknown = sorted(set(taskids) - known)
            taskids = [t for t in known if t not in self.live]
        return self.store.delete_results(taskids), unknown

    def resubmit(self, taskid):
        """Run a finished task again, from its stored definition, under a new id; return that id."""
        if taskid in self.live:
            raise TaskNotFinished(f"task {taskid} has not finished: only finished tasks can be resubmitted")
        found = self.store.get_task(taskid)
        if found is None:
            raise NoSuchTask(f"task {taskid} has no stored definition")
        meta, stored = found
        return self.submit(meta["chain"], framing.split(meta["counts"], stored))

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
        taskid = action.taskid

        def done(eid, header, buffers):
            self._task_done(taskid, kind, command, eid, header, buffers)

        command = Command("run_task", None, list(payload), done, taskid=taskid)
        live.kind, live.eid, live.command = kind, action.eid, command
        handle.submit(command)

    def _task_done(self, taskid, kind, command, eid, header, buffers):
        if self.registry.get(eid) is None:
            return  # the engine is gone; the scheduler hears of it from engine_removed
        status = header.get("status")
        if status not in OUTCOME:
            raise ProtocolError(f"engine {eid} reported task {taskid} as {status!r}")
        live = self.live.get(taskid)
        if live is not None:
            live.last = (eid, kind, header, buffers)
            if live.command is command:
                live.command = None
        if status == "error":
            self.store.note_failure(taskid)
        elif status == "unmet":
            self.log.info("task {taskid} refused by engine {eid}: {etype}: {message}", taskid=taskid,
                          eid=eid, etype=header.get("etype"), message=header.get("message"))
        self.perform(self.scheduler.handle(TaskDone(taskid, eid, OUTCOME[status], self.now())))

    def _finish(self, action):
        live = self.live.pop(action.taskid)
        meta = {"taskid": action.taskid, "submitted": live.submitted, "completed": self.now(),
                "status": "succeeded" if action.succeeded else "failed", "kind": live.kind,
                "engineid": live.eid}
        buffers = []
        if action.error is not None:
            meta["error"] = {"etype": action.error.value, "message": action.message, "traceback": ""}
            last = live.last
            if action.error is Reason.UNMET_DEPENDENCY and last is not None and last[2].get("status") == "unmet":
                meta["error"]["message"] += f"; engine {last[0]} said: {last[2].get('message')}"
        elif live.last is not None:
            eid, kind, header, buffers = live.last
            meta.update(engineid=eid, kind=kind, started=header.get("started"), finished=header.get("finished"))
            if not action.succeeded:
                meta["error"] = {k: header.get(k) for k in ("etype", "message", "traceback", "stack")}
        self.store.put_result(action.taskid, meta, buffers)
        self._note_finished(action.taskid)
        for waiter in self.waiters.pop(action.taskid, ()):
            if not waiter.cancelled:
                waiter.left.discard(action.taskid)
                if not waiter.left:
                    waiter.callback()

    # -- queries ---------------------------------------------------------------------

    def submitted(self, taskid):
        """Whether a task was accepted under this id (a leased id may never be used)."""
        if self.accepted.covers(taskid):
            return taskid in self.accepted
        return taskid in self.live or self.scheduler.knows(taskid) or (0 <= taskid and self.store.has_task(taskid))


    def known_among(self, taskids):
        """Which of ``taskids`` were accepted: duplicates count once, and the store is asked once.

        A request may list millions of ids: looking each up in turn stalled
        the controller, and every engine's heartbeat with it.
        """
        asked = set(taskids)
        found = {t for t in asked if t in self.live or self.scheduler.knows(t)}
        maybe = {t for t in asked - found if 0 <= t < self.next_id}
        return found | self.store.stored_among(maybe) if maybe else found

    def when_finished(self, taskids, callback):
        """Call ``callback()`` once every task in ``taskids`` has finished.

        Returns a token for ``cancel_wait``, or None if it was called at once.
        """
        left = {t for t in taskids if t in self.live}
        if not left:
            callback()
            return None
        waiter = _Waiter(left, callback)
        for taskid in left:
            self.waiters.setdefault(taskid, []).append(waiter)
        return waiter

    def cancel_wait(self, waiter):
        """Forget a wait of ``when_finished`` or ``when_submitted``."""
        waiter.cancelled = True
        for table in (self.waiters, self.expected):
            for taskid in waiter.left:
                waiting = table.get(taskid)
                if waiting is not None:
                    waiting[:] = [w for w in waiting if w is not waiter]
                    if not waiting:
                        del table[taskid]
        waiter.left = set()


class TaskInterface:
    """The capability behind ``ipcontroller-tc.furl``."""

    name = "tc"
    max_frame = None

    def __init__(self, controller):
        self.controller = controller
        self.sessions = set()

    @classmethod
    def for_controller(cls, service):
        """The interface of a ``ControllerService``: its reactor, registry and configuration."""
        return cls(TaskController.open(service.reactor, service.registry, service.config))

    def start(self):
        self.controller.start()

    def stop(self):
        self.controller.stop()

    def properties_changed(self, eid):
        self.controller.properties_changed(eid)

    def open_session(self, protocol):
        session = TaskSession(self.controller, protocol, self.sessions)
        self.sessions.add(session)
        return session


def _ids(value):
    """A ``taskids`` field (one id or a list, as declared) as a list."""
    return value if isinstance(value, list) else [value]


class TaskSession(StopsTasks, Session):
    """One client's connection to the task interface.

    Requests are answered in order of completion; blocking ones (results,
    barrier) are answered when their tasks finish. If the client goes away
    meanwhile, its waits are dropped and its tasks go on. A ``run`` of leased
    ids that is answered with an error (malformed, or refused while being
    accepted) is told to the controller (``TaskController.refuse``).
    """

    log = Logger()
    channel = messages.TASKS

    def __init__(self, controller, protocol, sessions=None):
        self.controller = controller
        self.queries = controller.queries
        self.sessions = sessions if sessions is not None else set()
        self.open = True
        self.waits = set()
        self._running = None  # (rid, leased ids) of the run being handled now
        super().__init__(protocol)

    def send(self, header, buffers=()):
        if self.open:
            super().send(header, buffers)

    def message(self, header, buffers):
        ids = header.get("ids") if header.get("op") == messages.Run.op else None
        self._running = (header.get("rid"), ids) if isinstance(ids, list) else None
        try:
            super().message(header, buffers)
        finally:
            self._running = None

    def answer_error(self, rid, e):
        if self._running is not None and self._running[0] == rid:
            self.controller.refuse(self._running[1], e)
        super().answer_error(rid, e)

    def closed(self, reason):
        self.open = False
        self.sessions.discard(self)
        for waiter in list(self.waits):
            self.controller.cancel_wait(waiter)
        self.waits.clear()

    def _result(self, rid, value, buffers=()):
        self.send(messages.Result.header(rid=rid, value=value), buffers)

    def _wait(self, taskids, callback):
        holder = []

        def done():
            if holder:
                self.waits.discard(holder[0])
            callback()

        waiter = self.controller.when_finished(taskids, done)
        if waiter is not None:
            holder.append(waiter)
            self.waits.add(waiter)

    @responder(messages.Run)
    def _run(self, rid, header, buffers):
        tasks = header["tasks"]
        groups = framing.split(header["counts"], buffers)
        ids = header.get("ids") or [None] * len(tasks)
        taskids, g = [], 0
        for chain, taskid in zip(tasks, ids):
            taskids.append(self.controller.submit(chain, groups[g:g + len(chain)], taskid, header.get("store")))
            g += len(chain)
        if header.get("ids") is not None:  # named by the client, which goes on meanwhile
            self.controller.answer_once_stored(self, rid)  # answered with the turn's others
            return
        self.controller.flush()  # on disk before the ids are given out
        if header.get("wait"):
            self._wait(taskids, lambda: self._send_results(rid, taskids))
        else:
            self._result(rid, taskids)

    @responder(messages.Lease)
    def _lease(self, rid, header, buffers):
        first = self.controller.lease(header["n"])
        self._result(rid, [first, first + header["n"], self.controller.store.ident])

    def _check_known(self, taskids, known=None):
        unknown = set(taskids) - (self.controller.known_among(taskids) if known is None else known)
        if unknown:
            raise NoSuchTask(f"task ID not registered: {min(unknown)}")

    def _once_arrived(self, rid, header, taskids, then):
        """``then(known)`` once every task ``taskids`` names that was leased but not yet submitted has come.

        Such an id is never "not registered": its client may still be
        sending it (after a reconnect, say). One still missing after the
        ``lease_wait`` setting is a NoSuchTask that says why; one whose run
        the controller refused (before or while this waits) is that refusal,
        at once. ``known`` is the set of ``taskids`` that name tasks.
        """
        known = self.controller.known_among(taskids)
        leased = self.controller.leased_only(taskids, known)
        if not leased:
            then(known)
            return
        refused = self.controller.refusals.error(leased)
        if refused is not None:
            raise refused
        holder = []

        def arrived(error):
            self.waits.discard(holder[0])
            if error is not None:
                self.answer_error(rid, error)
            else:
                self.answering(rid, header["op"], lambda: then(known | leased))

        holder.append(self.controller.when_submitted(leased, arrived))
        self.waits.add(holder[0])

    @responder(messages.GetResults)
    def _get_results(self, rid, header, buffers):
        taskids = _ids(header["taskids"])

        def answer(known):
            self._check_known(taskids, known)
            if header.get("block"):
                self._wait(taskids, lambda: self._send_results(rid, taskids, header.get("max_bytes")))
            else:
                self._send_results(rid, taskids, header.get("max_bytes"))

        self._once_arrived(rid, header, taskids, answer)

    def _send_results(self, rid, taskids, max_bytes=None):
        """The results of ``taskids``; with ``max_bytes``, those up to the one whose buffers reach
        that many bytes in all, each read from the store only if it is sent."""
        if max_bytes is None:
            self._result(rid, *self.queries.results(taskids))
            return
        entries, out, size = [], [], 0
        for taskid in taskids:
            [entry], buffers = self.queries.results([taskid])
            entries.append(entry)
            out.extend(buffers)
            size += sum(memoryview(b).nbytes for b in buffers)
            if size >= max_bytes:
                break
        self._result(rid, entries, out)

    @responder(messages.Barrier)
    def _barrier(self, rid, header, buffers):
        taskids = _ids(header["taskids"])
        self._once_arrived(rid, header, taskids, lambda known: self._wait(known, lambda: self._result(rid, None)))

    @responder(messages.TaskQueueStatus)
    def _queue_status(self, rid, header, buffers):
        self._result(rid, self.queries.status(bool(header.get("verbose"))))

    @responder(messages.TaskStatus)
    def _task_status(self, rid, header, buffers):
        def answer(known):
            self._check_known([header["taskid"]], known)
            self._result(rid, self.queries.record(header["taskid"]))

        self._once_arrived(rid, header, [header["taskid"]], answer)

    @responder(messages.Abort)
    def _abort(self, rid, header, buffers):
        def answer(known):
            if not known:
                raise NoSuchTask(f"No task #{header['taskid']}")
            self.controller.abort(header["taskid"])
            self._result(rid, None)

        self._once_arrived(rid, header, [header["taskid"]], answer)

    @responder(messages.Spin)
    def _spin(self, rid, header, buffers):
        self._result(rid, self.controller.spin())

    @responder(messages.Clear)
    def _clear(self, rid, header, buffers):
        """Forget finished results; ids never given out are named in a NoSuchTask, after the rest go (as in 0.10)."""
        taskids = header.get("taskids")
        cleared, unknown = self.controller.clear(None if taskids is None else _ids(taskids))
        if unknown:
            raise NoSuchTask(f"Cleared {cleared} results, but no tasks found for ids: {', '.join(map(str, unknown))}")
        self._result(rid, cleared)

    @responder(messages.Resubmit)
    def _resubmit(self, rid, header, buffers):
        self._check_known([header["taskid"]])
        self._result(rid, self.controller.resubmit(header["taskid"]))

    @responder(messages.Timeline)
    def _timeline(self, rid, header, buffers):
        taskids = header.get("taskids")
        self._result(rid, self.queries.timeline(None if taskids is None else _ids(taskids)))
