"""The table of commands an engine understands.

Each returns ``(value, text)``: ``text`` is how many characters of text the
value holds as JSON (``replies.text_in``), or None for a value that is
always pickled (``replies.success``).
"""

from kernel.engine import tasks
from kernel.engine.replies import failure, success, text_in
from kernel.wire import serialize, shm
from kernel.wire.messages import RUN_TASK


def _values(buffers):
    return serialize.loads(buffers) if buffers else None


def _execute(interp, args, buffers):
    result = interp.execute(args["code"])
    if args.get("echo") is False:  # the caller has the code, and fills ``input`` in itself
        result = {key: value for key, value in result.items() if key != "input"}
    return result, execute_text(result)


EXECUTE_KEYS = 64  # characters of the keys of an execute's result, at most


def execute_text(result):
    """``text_in`` of an execute's result (``Interpreter.execute``'s dict), from its few strings: a
    tiny command's reply is not walked."""
    display = result.get("display")
    code = result.get("input")
    return ((len(code["raw"]) + len(code["translated"]) if code else 0) + len(result.get("stdout", ""))
            + len(result.get("stderr", "")) + (len(display["pprint"]) + len(display["repr"]) if display else 0)
            + EXECUTE_KEYS)


def _push(interp, args, buffers):
    try:
        namespace = _values(buffers)
    except Exception as e:
        raise _retyped(e, f"cannot unpickle the pushed values here: {type(e).__name__}: {e}") from None
    interp.push(namespace)
    return None, 0


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
    return interp.pull(args["keys"]), None


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
    return [func(*item) for item in items], None


def _get_result(interp, args, buffers):
    result = interp.get_result(args.get("i"))
    return result, execute_text(result)


def _reset(interp, args, buffers):
    interp.reset()
    return None, 0


def _keys(interp, args, buffers):
    names = interp.keys()
    return names, text_in(names)


def _set_properties(interp, args, buffers):
    interp.set_properties(_values(buffers))
    return None, 0


def _get_properties(interp, args, buffers):
    return interp.get_properties(args.get("keys")), None


def _has_properties(interp, args, buffers):
    return interp.has_properties(args["keys"]), 0  # bools


def _del_properties(interp, args, buffers):
    interp.del_properties(args["keys"])
    return None, 0


def _clear_properties(interp, args, buffers):
    interp.clear_properties()
    return None, 0


def _kill(interp, args, buffers):
    return None, 0


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
        value, text = handler(interp, args, buffers)
    except BaseException as e:  # user code: anything may come out
        if isinstance(e, SystemExit):
            e = RuntimeError(f"user code called exit({e.code!r}); the engine keeps running")
        return failure(header, e)
    reply, out = success(header, value, text, consumer)
    if reply["status"] == "error" and method == "pull":
        named = _unsendable(interp, header["args"]["keys"])
        if named is not None:
            return failure(header, named)
    return reply, out
