"""Running one load-balanced task on the engine.

The task object arrives pickled; its ``depend`` predicate is evaluated here,
against this engine's properties, because only engines unpickle user code.
The reply's ``status`` tells the scheduler what happened without it having to
look inside: ``ok``, ``error``, ``declined`` (depend said no) or ``unmet``
(the task raised UnmetDependency).
"""

from kernel.engine.replies import failure, now, success
from kernel.errors import UnmetDependency
from kernel.wire import serialize


def run_task(interp, header, buffers):
    started = now()
    try:
        task = serialize.loads(buffers)
    except Exception as e:
        return failure(header, e, started=started, finished=now())
    if task.depend is not None:
        try:
            accepted = bool(task.depend(interp.get_properties()))
        except Exception:
            accepted = False
        if not accepted:
            return {"op": "reply", "cid": header["cid"], "status": "declined"}, []
    if task.clear_before:
        interp.clear_namespace()
    try:
        value = task.run_on(interp)
    except UnmetDependency as e:
        return failure(header, e, status="unmet", started=started, finished=now())
    except BaseException as e:  # user code: anything may come out
        return failure(header, e, started=started, finished=now())
    finally:
        if task.clear_after:
            interp.clear_namespace()
    return success(header, value, False, started=started, finished=now())
