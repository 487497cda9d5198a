"""The read side of the task interface: what a client may ask about tasks, changing nothing.

``queue_status``, ``task_status``, ``timeline`` and the results of
``get_results`` are answered here, from three sources the controller keeps
up to date: its table of live tasks (when submitted, what kind, the engine
of the latest attempt), the scheduler (state, rounds, why a task waits) and
the store (everything about finished tasks). A question never changes any
of them: a finished task the scheduler has forgotten is read from the store.
"""

from .events import State
from .taskstore import RESULT_TIMES


class TaskQueries:
    """Answers about tasks; ``live`` maps a task id to the controller's record of an unfinished task
    (with ``submitted``, ``kind`` and ``eid``)."""

    def __init__(self, scheduler, live, store):
        self.scheduler = scheduler
        self.live = live
        self.store = store

    def status(self, verbose=False):
        """``queue_status``: counts, or id lists with ``waiting``: why each waiting task waits."""
        status = self.scheduler.status(verbose)
        if verbose:
            status["waiting"] = {str(t): why for t in status[State.SCHEDULED]
                                 if (why := self.scheduler.waiting_reason(t)) is not None}
        return {str(key): value for key, value in status.items()}

    def _state(self, taskid, stored):
        if self.scheduler.knows(taskid):
            return self.scheduler.state(taskid).value
        return stored[0]["status"] if stored is not None else None  # cleared long ago: unknown

    def record(self, taskid):
        """``task_status`` of a task that was submitted: its state, its engine, why it waits
        (with ``rounds``, the times every engine refused it, while it has not finished);
        ``state`` is None for a task whose result was cleared and whose outcome is forgotten."""
        live = self.live.get(taskid)
        if live is not None:
            state = self.scheduler.state(taskid)
            return {"taskid": taskid, "state": state.value, "submitted": live.submitted,
                    "engineid": live.eid if state is State.PENDING else None,
                    "rounds": self.scheduler.rounds(taskid),
                    "waiting": self.scheduler.waiting_reason(taskid)}
        stored = self.store.get_result(taskid)
        record = {"taskid": taskid, "state": self._state(taskid, stored), "waiting": None, "engineid": None}
        if stored is None:
            record["cleared"] = True
        else:
            meta = stored[0]
            record.update(submitted=meta.get("submitted"), completed=meta.get("completed"),
                          engineid=meta.get("engineid"), error=meta.get("error"))
        return record

    def results(self, taskids):
        """``(entries, buffers)`` for ``get_results``: an entry per id, in order (None while the
        task runs, ``cleared`` once its result is gone, else its metadata and ``n``, how many of
        ``buffers`` are its own). Each distinct id is read from the store once.

        A map task's entry leaves out when it was submitted, started, finished and completed:
        a client makes only a value of it (``timeline`` has them), and those four floats were
        a third of what encoding a map's results cost."""
        entries, out, read = [], [], {}
        for taskid in taskids:
            if taskid in self.live:
                entries.append(None)
                continue
            if taskid not in read:
                read[taskid] = self.store.get_result(taskid)
            found = read[taskid]
            if found is None:
                entries.append({"taskid": taskid, "cleared": True})
                continue
            meta, buffers = found
            entry = dict(meta, n=len(buffers))
            if meta.get("kind") == "map":
                for k in RESULT_TIMES:
                    entry.pop(k, None)
            entries.append(entry)
            out.extend(buffers)
        return entries, out

    def timeline(self, taskids=None):
        """When and where tasks ran, from live tasks and stored result metadata.

        One dict a task: ``taskid, engineid, submitted, started, finished,
        completed, status, kind, failures`` (``failures``: failed attempts
        reported by engines, so retries show). ``taskids=None`` means every
        known task.
        """
        wanted = None if taskids is None else set(taskids)
        fields = ("submitted", "started", "finished", "completed", "status", "engineid", "kind")
        found = {taskid: meta for taskid, meta in self.store.summaries(fields)
                 if wanted is None or taskid in wanted}
        failures = self.store.failure_counts()
        for taskid, live in list(self.live.items()):
            if wanted is None or taskid in wanted:
                state = self.scheduler.state(taskid)
                found[taskid] = {"submitted": live.submitted, "started": None, "finished": None,
                                 "completed": None, "status": state.value, "kind": live.kind,
                                 "engineid": live.eid if state is State.PENDING else None}
        return [dict(found[t], taskid=t, failures=failures.get(t, 0)) for t in sorted(found)]
