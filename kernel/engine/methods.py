"""The table of commands an engine understands."""

from kernel.engine import tasks
from kernel.engine.replies import failure, success
from kernel.wire import serialize


def _values(buffers):
    return serialize.loads(buffers) if buffers else None


def _execute(interp, args, buffers):
    return interp.execute(args["code"]), True


def _push(interp, args, buffers):
    interp.push(_values(buffers))
    return None, True


def _pull(interp, args, buffers):
    return interp.pull(args["keys"]), False


def _get_result(interp, args, buffers):
    return interp.get_result(args.get("i")), True


def _reset(interp, args, buffers):
    interp.reset()
    return None, True


def _keys(interp, args, buffers):
    return interp.keys(), True


def _set_properties(interp, args, buffers):
    interp.set_properties(_values(buffers))
    return None, True


def _get_properties(interp, args, buffers):
    return interp.get_properties(args.get("keys")), False


def _has_properties(interp, args, buffers):
    return interp.has_properties(args["keys"]), True


def _del_properties(interp, args, buffers):
    interp.del_properties(args["keys"])
    return None, True


def _clear_properties(interp, args, buffers):
    interp.clear_properties()
    return None, True


def _kill(interp, args, buffers):
    return None, True


METHODS = {
    "execute": _execute,
    "push": _push,
    "pull": _pull,
    "get_result": _get_result,
    "reset": _reset,
    "keys": _keys,
    "set_properties": _set_properties,
    "get_properties": _get_properties,
    "has_properties": _has_properties,
    "del_properties": _del_properties,
    "clear_properties": _clear_properties,
    "kill": _kill,
}


def dispatch(interp, header, buffers):
    """Run one ``call``; return ``(reply_header, reply_buffers)``."""
    method = header.get("method")
    if method == "run_task":
        return tasks.run_task(interp, header, buffers)
    handler = METHODS.get(method)
    if handler is None:
        return failure(header, AttributeError(f"engines have no method {method!r}"))
    try:
        value, as_json = handler(interp, header.get("args") or {}, buffers)
    except BaseException as e:  # user code: anything may come out
        if isinstance(e, SystemExit):
            e = RuntimeError(f"user code called exit({e.code!r}); the engine keeps running")
        return failure(header, e)
    return success(header, value, as_json)
