"""Running one load-balanced task on the engine.

The task object arrives pickled; its ``depend`` predicate is evaluated here,
against this engine's properties, because only engines unpickle user code.
The reply's ``status`` tells the scheduler what happened without it having to
look inside: ``ok``, ``error``, ``declined`` (depend said no) or ``unmet``
(the task raised UnmetDependency, or TaskRejectError, its legacy name).
``started`` and ``finished`` are this engine's clock around the attempt.
"""

from kernel.engine.replies import failure, now, success
from kernel.errors import UnmetDependency
from kernel.wire import serialize
from kernel.wire.messages import Reply


def _accepts(task, interp):
    """The task's ``depend(properties)``; an exception counts as False."""
    try:
        return bool(task.depend(interp.get_properties()))
    except Exception:
        return False


def run_task(interp, header, buffers):
    started = now()
    try:
        task = serialize.loads(buffers)
    except Exception as e:
        return failure(header, e, started=started, finished=now())
    if task.depend is not None and not _accepts(task, interp):
        return Reply.header(cid=header["cid"], status="declined"), []
    if task.clear_before:
        interp.clear_namespace()
    started = now()
    try:
        value = task.run_on(interp)
    except UnmetDependency as e:
        return failure(header, e, status="unmet", started=started, finished=now())
    except BaseException as e:  # user code: anything may come out
        return failure(header, e, started=started, finished=now())
    finally:
        if task.clear_after:
            interp.clear_namespace()
    return success(header, value, None, started=started, finished=now())
