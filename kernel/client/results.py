"""What non-blocking calls return, waiting for many of them, and how execute results print."""

import sys
import weakref

from kernel.client.progress import progress_bar
from kernel.errors import InvalidDeferredID, NotAPendingResult, ResultAlreadyRetrieved


_COLOURS = {"green": "\033[0;32m", "blue": "\033[0;34m", "red": "\033[0;31m", "normal": "\033[0m"}


def _colours(stream=None):
    stream = sys.stdout if stream is None else stream
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return {k: (v if tty else "") for k, v in _COLOURS.items()}


class ResultList(list):
    """A list of execute result dicts with the legacy console repr.

    ``<Results List>``, then for each engine ``[id] In [n]: code``, and
    ``[id] Out[n]: stdout`` / ``[id] Err[n]:`` when the command printed.
    Colours are used only when standard output is a terminal.
    """

    def __repr__(self):
        c = _colours()
        out = ["<Results List>\n"]
        for cmd in self:
            if not isinstance(cmd, dict) or "id" not in cmd:
                out.append(f"{cmd!r}\n")
                continue
            i, n = cmd["id"], cmd.get("number", 0)
            out.append(f"{c['green']}[{i}]{c['blue']} In [{n}]:{c['normal']} {cmd['input']['translated']}\n")
            if cmd.get("stdout"):
                out.append(f"{c['green']}[{i}]{c['red']} Out[{n}]:{c['normal']} {cmd['stdout']}\n")
            if cmd.get("stderr"):
                out.append(f"{c['green']}[{i}]{c['red']} Err[{n}]:\n{c['normal']} {cmd['stderr']}")
        return "".join(out)

    __str__ = __repr__

    def _repr_pretty_(self, p, cycle):
        p.text(repr(self))


def _forget(connection, rids):
    connection.forget(rids)


class PendingResult:
    """A result that will arrive later; ``r`` waits for it.

    Errors are cached and re-raised on every access, as in the legacy client.
    A PendingResult that is dropped unread takes its reply with it: the reply
    is discarded when it arrives, so nothing piles up on either side.
    """

    def __init__(self, client, rids, finish):
        self.client = client
        self._rids = tuple(rids)
        self.result_id = self._rids[-1] if self._rids else None
        self._finish = finish  # [(header, buffers), ...] -> value, may raise
        self.callbacks = []
        self.called = False
        self.raised = False
        self._value = None
        self._release = weakref.finalize(self, _forget, client._connection, self._rids) if self._rids else None

    def __lt__(self, other):
        return (self.result_id or 0) < (other.result_id or 0)

    def add_callback(self, f, *args, **kwargs):
        """Apply ``f(result, *args, **kwargs)`` when the result is fetched."""
        self.callbacks.append((f, args, kwargs))

    def get_result(self, default=None, block=True):
        """The result; ``default`` if ``block`` is False and it has not arrived yet."""
        if self.called:
            return self._cached()
        connection = self.client._connection
        if not block and not all(connection.ready(rid) for rid in self._rids if connection.outstanding(rid)):
            return default
        replies, error = [], None
        for rid in self._rids:  # take every reply, even after an error, so none is left behind
            try:
                replies.append(connection.wait(rid))
            except ResultAlreadyRetrieved:
                error = error or InvalidDeferredID(
                    f"invalid deferred id: {self.result_id!r} (its result was flushed, or lost with "
                    "the connection)")
            except Exception as e:
                error = error or e
        try:
            if error is not None:
                raise error
            value = self._finish(replies)
            for f, args, kwargs in self.callbacks:
                value = f(value, *args, **kwargs)
        except Exception as e:
            self._store(e, raised=True)
            raise
        self._store(value, raised=False)
        return value

    def _cached(self):
        if self.raised:
            raise self._value.with_traceback(None)
        return self._value

    def _store(self, value, raised):
        self.called = True
        self.raised = raised
        self._value = value
        self._finish = None
        if self._release is not None:
            self._release.detach()

    @property
    def r(self):
        return self.get_result(block=True)

    def __repr__(self):
        state = "done" if self.called else "pending"
        return f"<PendingResult {self.result_id} ({state})>"


def done(client, value):
    """A PendingResult that is already complete (for calls with no targets)."""
    pending = PendingResult(client, (), None)
    pending._store(value, raised=False)
    return pending


def _fetch(pending, block):
    """Take in ``pending``'s result if it is there (or wait, with ``block``); an error stays with it."""
    try:
        pending.get_result(block=block)
    except Exception:
        pass  # kept: ``r`` and ``get_result`` raise it


def wait_for_all(pending_results, progress=None):
    """``mec.barrier``: wait for every PendingResult, in the order they were made.

    ``progress`` as ``progress_bar`` takes it: with a bar, results that
    arrived out of order are taken in (and counted) as they come.
    """
    if isinstance(pending_results, PendingResult):
        pending_results = [pending_results]
    try:
        pending_results = list(pending_results)
    except TypeError:
        raise NotAPendingResult("barrier takes a list of PendingResult instances") from None
    for pr in pending_results:
        if not isinstance(pr, PendingResult):
            raise NotAPendingResult("Objects passed to barrier must be PendingResult instances")
    left = sorted(pending_results)
    bar = progress_bar(progress, len(left), "barrier")
    if bar is None:
        for pr in left:
            _fetch(pr, True)
        return
    with bar:
        while left:
            _fetch(left[0], True)
            for pr in left[1:]:
                if not pr.called:
                    _fetch(pr, False)
            left = [pr for pr in left[1:] if not pr.called]
            bar.update(len(pending_results) - len(left))
