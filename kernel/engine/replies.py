"""How an engine encodes the reply to one command.

Small JSON-able results ride in the reply's header; everything else is
pickled into buffers. Failures carry their type, message and traceback in the
header (so the controller can act on them without unpickling) and the
exception itself pickled, so clients can re-raise the original type.
"""

import pickle
import time
import traceback

from kernel.errors import KernelRemoteError
from kernel.wire import serialize

def _user_traceback(exc):
    """Format the traceback without the engine's own frames at its top."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_package_dir()):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _package_dir():
    import kernel

    return kernel.__path__[0]


def describe(exc, method):
    return {
        "etype": type(exc).__name__,
        "message": str(exc),
        "traceback": _user_traceback(exc),
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
