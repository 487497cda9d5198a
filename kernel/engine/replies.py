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
from kernel.wire.messages import Reply


INLINE_TEXT_MAX = 64 * 1024  # a JSON value with more text than this travels pickled, in the buffers


def _clipped(text):
    """Header text cut to ``INLINE_TEXT_MAX``, saying so: the whole exception is in the buffers."""
    if len(text) <= INLINE_TEXT_MAX:
        return text
    return f"{text[:INLINE_TEXT_MAX]}… [{len(text) - INLINE_TEXT_MAX} more characters cut]"


def describe(exc, method):
    """The failure's header fields: the traceback as text for logs, and as data for the client."""
    stack = tracebacks.capture(exc)
    text = tracebacks.render(stack)
    if len(text) > INLINE_TEXT_MAX:
        stack = None  # a huge source line or message: the text alone, cut
    return {
        "etype": type(exc).__name__,
        "message": _clipped(str(exc)),
        "traceback": _clipped(text),
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
    reply = Reply.header(cid=header["cid"], status=status, **describe(exc, header.get("method")), **extra)
    return reply, pickled_exception(exc)


def success(header, value, text, consumer=None, **extra):
    """The reply carrying ``value``; its big buffers go through shared memory to pid ``consumer``.

    ``text`` is how many characters of text ``value`` holds as JSON (``text_in``), or None if it is not
    JSON: it rides in the header if it is JSON with at most ``INLINE_TEXT_MAX``, else it is pickled.
    """
    reply = Reply.header(cid=header["cid"], status="ok", **extra)
    if text is not None and text <= INLINE_TEXT_MAX:
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


def text_in(value, most=INLINE_TEXT_MAX):
    """The characters of the strings in the JSON ``value``, keys included; counted only until past ``most``.

    Values with more (the echo of a long execute, its printed output) go as
    a pickle in the buffers, which have no size limit, and the client cannot
    tell the difference; the header stays small.
    """
    return 0 if value is None else most - _text_left(value, most)


def _text_left(value, budget):
    """``budget`` less the characters of the strings in ``value`` (keys included); negative once over.

    Exact types are tested first, as an execute's result is a dict of strings and ints.
    """
    kind = type(value)
    if kind is dict:
        for key in value:
            if type(key) is str or isinstance(key, str):
                budget -= len(key)
        items = value.values()
    elif kind is list:
        items = value
    elif isinstance(value, str):
        return budget - len(value)
    elif isinstance(value, (dict, list)):  # subclasses
        return _text_left(dict(value) if isinstance(value, dict) else list(value), budget)
    else:
        return budget
    for item in items:
        if type(item) is str:
            budget -= len(item)
        elif item is not None and type(item) is not int:
            budget = _text_left(item, budget)
        if budget < 0:
            break
    return budget


def now():
    return time.time()
