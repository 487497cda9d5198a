"""The table of commands an engine understands."""

from kernel.engine import tasks
from kernel.engine.replies import failure, success
from kernel.wire import serialize, shm
from kernel.wire.messages import RUN_TASK


def _values(buffers):
    return serialize.loads(buffers) if buffers else None


def _execute(interp, args, buffers):
    return interp.execute(args["code"]), True


def _push(interp, args, buffers):
    try:
        namespace = _values(buffers)
    except Exception as e:
        raise _retyped(e, f"cannot unpickle the pushed values here: {type(e).__name__}: {e}") from None
    interp.push(namespace)
    return None, True


def _retyped(exc, message):
    """The same kind of exception with a message that says what was being done."""
    try:
        return type(exc)(message)
    except Exception:
        return TypeError(message)


def _unsendable(interp, keys):
    """Which pulled name cannot be pickled, as a TypeError naming it."""
    for key in [keys] if isinstance(keys, str) else keys:
        value = interp.namespace.get(key)
        try:
            serialize.dumps(value)
        except Exception as e:
            return TypeError(f"cannot send {key!r} back: a {type(value).__name__} object "
                             f"cannot be pickled ({e})")
    return None


def _pull(interp, args, buffers):
    return interp.pull(args["keys"]), False


def _same_host_client(args):
    """The pid of a pulling client that shares this engine's host (and /dev/shm), else None."""
    asked = args.get("shared_memory")
    if asked is None:
        return None
    if not (isinstance(asked, dict) and isinstance(asked.get("host_key"), str) and shm.is_pid(asked.get("pid"))):
        raise ValueError(f"pull: shared_memory must be {{'host_key': str, 'pid': int > 0}}, "
                         f"not {str(asked)[:80]}")
    mine = shm.host_key()
    return asked["pid"] if mine is not None and asked["host_key"] == mine else None


def _map(interp, args, buffers):
    """Apply a function to each argument tuple of this engine's block (not load balanced).

    The function comes pickled in the first ``func_n`` buffers, or by name:
    ``name`` is looked up (an expression, e.g. ``numpy.sqrt``) in the namespace.
    """
    n = args.get("func_n", 0)
    if n:
        func = interp.adopt(serialize.loads(buffers[:n]))
    else:
        func = eval(args["name"], interp.namespace)
    if not callable(func):
        raise TypeError(f"map needs a function, not a {type(func).__name__}")
    items = serialize.loads(buffers[n:])
    return [func(*item) for item in items], False


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
    "map": _map,
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
    if method == RUN_TASK:
        return tasks.run_task(interp, header, buffers)
    handler = METHODS.get(method)
    if handler is None:
        return failure(header, AttributeError(f"engines have no method {method!r}"))
    args = header.get("args") or {}
    try:
        consumer = _same_host_client(args) if method == "pull" else None
        value, as_json = handler(interp, args, buffers)
    except BaseException as e:  # user code: anything may come out
        if isinstance(e, SystemExit):
            e = RuntimeError(f"user code called exit({e.code!r}); the engine keeps running")
        return failure(header, e)
    reply, out = success(header, value, as_json, consumer)
    if reply["status"] == "error" and method == "pull":
        named = _unsendable(interp, header["args"]["keys"])
        if named is not None:
            return failure(header, named)
    return reply, out
