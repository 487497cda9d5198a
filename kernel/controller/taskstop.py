"""What a client's Ctrl-C does to the tasks it was waiting for: the ``stop_tasks`` request.

A blocking ``tc.map`` or ``tc.barrier`` interrupted in the client asks the
controller to abort every task of it that has not finished (so no engine
starts one, and none is retried) and to interrupt those an engine is running
(so the engine is free at once; it keeps its namespace). ``StopsTasks`` is
the responder, mixed into ``TaskSession``.
"""

from kernel.errors import NoSuchTask, TaskAlreadyFinished
from kernel.wire import messages
from kernel.wire.messages import responder


def stop_tasks(controller, taskids):
    """Abort each unfinished task of ``taskids`` and interrupt those running; return how many were aborted.

    Ids of tasks finished, aborted, unknown or leased but not yet sent are
    passed over: there is nothing of theirs to stop.
    """
    aborted = 0
    for taskid in dict.fromkeys(taskids):
        live = controller.live.get(taskid)
        if live is None:
            continue
        command = live.command  # the abort may take it back from its engine's queue
        try:
            controller.abort(taskid)
        except (NoSuchTask, TaskAlreadyFinished):
            continue
        aborted += 1
        handle = controller.registry.get(live.eid) if command is not None else None
        if handle is not None:
            handle.interrupt(command)  # only if it runs: one still queued was taken back
    return aborted


class StopsTasks:
    """The ``stop_tasks`` responder of a ``TaskSession`` (``self.controller``, ``self._result``)."""

    @responder(messages.StopTasks)
    def _stop_tasks(self, rid, header, buffers):
        taskids = header["taskids"]
        self._result(rid, stop_tasks(self.controller, taskids if isinstance(taskids, list) else [taskids]))
