"""How an engine encodes the reply to one command.

Small JSON-able results ride in the reply's header; everything else is
pickled into buffers. Failures carry their type, message and traceback in
the header (so the controller can act on them without unpickling; the
traceback both as text and as ``kernel.wire.tracebacks`` data) and the
exception itself pickled, so clients can re-raise the original type.
"""

import pickle
import time

from kernel.errors import KernelRemoteError
from kernel.wire import serialize, tracebacks


def describe(exc, method):
    """The failure's header fields: the traceback as text for logs, and as data for the client."""
    stack = tracebacks.capture(exc)
    return {
        "etype": type(exc).__name__,
        "message": str(exc),
        "traceback": tracebacks.render(stack),
        "stack": stack,
        "method": method,
    }


def pickled_exception(exc):
    exc.__traceback__ = None
    try:
        return serialize.dumps(exc)
    except Exception:
        return serialize.dumps(KernelRemoteError(f"{type(exc).__name__}: {exc}"))


def failure(header, exc, status="error", **extra):
    reply = {"op": "reply", "cid": header["cid"], "status": status, **describe(exc, header.get("method")), **extra}
    return reply, pickled_exception(exc)


def success(header, value, as_json, consumer=None, **extra):
    """The reply carrying ``value``; its big buffers go through shared memory to pid ``consumer``."""
    reply = {"op": "reply", "cid": header["cid"], "status": "ok", **extra}
    if as_json:
        reply["value"] = value
        return reply, []
    try:
        pieces = serialize.dumps(value)
    except (pickle.PicklingError, TypeError, AttributeError) as e:
        return failure(header, TypeError(f"cannot send the result of {header.get('method')} back: {e}"))
    if consumer is not None:
        copies, _ = serialize.share(pieces, [consumer])
        pieces = copies[0]
    return reply, pieces


def now():
    return time.time()
