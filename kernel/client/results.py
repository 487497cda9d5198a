"""What non-blocking calls return, waiting for many of them, and how execute results print."""

import sys
import warnings
import weakref

from kernel.client import interrupts
from kernel.client.futures import Future, RequestFuture
from kernel.client.progress import progress_bar
from kernel.client.streaming import OutputBuffer, Printer
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


def with_input(results, code):
    """Execute results with their ``input`` (``code``) where the engines left it out (``echo``), in
    its place after ``id`` and ``number``, as the legacy dicts print."""
    return ResultList(
        {"id": r["id"], "number": r["number"], "input": {"raw": code, "translated": code}, **r}
        if type(r) is dict and "input" not in r else r for r in results)


def _forget(connection, rids, streamed=False):
    connection.forget(rids)
    if streamed:
        for rid in rids:
            connection.output_sinks.pop(rid, None)


class PendingResult(RequestFuture):
    """A result that will arrive later; ``r`` waits for it.

    Errors are cached and re-raised on every access, as in the legacy client.
    A PendingResult that is dropped unread takes its reply with it: the reply
    is discarded when it arrives, so nothing piles up on either side.

    It is also a ``concurrent.futures.Future`` (see ``kernel.client.futures``):
    ``result()``, ``exception()`` and ``await`` give what ``get_result()``
    gives, legacy callbacks applied. It cannot be cancelled: the engines have
    it already.

    An ``execute``'s shows what the engines print while it runs:
    ``stream_output()`` prints it, ``add_output_callback(f)`` passes it to
    ``f`` (see ``kernel.client.streaming``).
    """

    def __init__(self, client, rids, finish, stream=False):
        super().__init__(client._connection, rids)
        self.client = client
        self._rids = self.rids
        self.result_id = self._rids[-1] if self._rids else None
        self._finish = finish  # [(header, buffers), ...] -> value, may raise
        self.callbacks = []
        self.called = False
        self.raised = False
        self._value = None
        self._release = weakref.finalize(self, _forget, client._connection, self._rids, stream) if self._rids else None
        self._output = OutputBuffer() if stream else None
        if self._output is not None:
            for rid in self._rids:
                client._connection.output_sinks[rid] = self._output.feed
        self.set_running_or_notify_cancel()

    def __lt__(self, other):
        return (self.result_id or 0) < (other.result_id or 0)

    def add_callback(self, f, *args, **kwargs):
        """Apply ``f(result, *args, **kwargs)`` when the result is fetched."""
        self.callbacks.append((f, args, kwargs))

    def get_result(self, default=None, block=True):
        """The result; ``default`` if ``block`` is False and it has not arrived yet.

        Ctrl-C while it waits stops the call on the engines too (``kernel.client.interrupts``).
        """
        if not block or self.called:
            return self._taken(default, block)
        with interrupts.stopping_calls(self._connection, self._rids):
            return self._taken(default, True)

    def _taken(self, default, block):
        """``get_result`` without forwarding Ctrl-C (``barrier`` does that for all of its results)."""
        if self.called:
            return self._cached()
        if not Future.done(self):
            if self._armed:  # the reader completes it
                if not block:
                    taken = self._connection.poll(self)
                    if taken is None:
                        return default
                    self._complete(*taken)
                Future.exception(self)
            else:
                connection = self.client._connection
                if not block and not all(connection.ready(rid) for rid in self._rids
                                         if connection.outstanding(rid)):
                    return default
                self._complete(*_take(connection, self._rids))
        try:
            value = Future.result(self)
            for f, args, kwargs in self.callbacks:
                value = f(value, *args, **kwargs)
        except Exception as e:
            self._store(e, raised=True)
            raise
        self._store(value, raised=False)
        return value

    def stream_output(self, file=None):
        """Print what the engines print, as they print it, until the result is in; return the result.

        Each line comes after ``[stdout:N]`` or ``[stderr:N]`` (N the engine's
        id); stdout goes to ``file`` (default ``sys.stdout``), stderr to
        ``file`` (default ``sys.stderr``). What was printed before the call is
        shown first. The result is what ``get_result()`` returns (its error
        raised); Ctrl-C stops the call on the engines too. Only an
        ``execute``'s output streams: for other calls it just waits.
        """
        printer = Printer(file)
        if self._output is not None:
            self._output.attach(printer)
        try:
            return self.get_result()
        finally:
            printer.close()

    def add_output_callback(self, fn):
        """Call ``fn(chunk)`` with each piece of the engines' output as it arrives, without waiting.

        ``chunk`` is a ``kernel.client.streaming.OutputChunk``: ``id`` (the
        engine), ``name`` (``'stdout'`` or ``'stderr'``), ``text`` and
        ``dropped`` (bytes before it that were not delivered; the result has
        them). Pieces already here are passed at once; the rest as they come,
        all before the result completes. ``fn`` runs on the thread that reads
        the client's connection (a thread of the client's own while nobody
        waits), so it must be quick and must not call the client.
        """
        if self._output is None:
            return
        self._output.attach(_guarded(fn))
        self._arm()  # so that the output is read while nobody waits for the result

    def _complete(self, replies, error):
        """The replies are in: the raw outcome (before the legacy callbacks) completes the future."""
        if self._output is not None:
            for rid in self._rids:
                self._connection.output_sinks.pop(rid, None)
            self._output.finish(replies)
        try:
            value = outcome(replies, error, self._finish, self.result_id)
        except Exception as e:
            self._set(exception=e)
        else:
            self._set(value)
        finally:
            self._finish = None
            if self._release is not None:
                self._release.detach()

    def result(self, timeout=None):
        """What ``get_result()`` gives, waiting at most ``timeout`` seconds (TimeoutError)."""
        self._wait(timeout)
        return self.get_result()

    def exception(self, timeout=None):
        """The exception ``get_result()`` raises, or None; waiting at most ``timeout`` seconds."""
        self._wait(timeout)
        try:
            self.get_result()
        except Exception as e:
            return e
        return None

    def _cached(self):
        if self.raised:
            raise self._value.with_traceback(None)
        return self._value

    def _store(self, value, raised):
        self.called = True
        self.raised = raised
        self._value = value

    @property
    def r(self):
        return self.get_result(block=True)

    def __repr__(self):
        state = "done" if self.called else "pending"
        return f"<PendingResult {self.result_id} ({state})>"


def _guarded(fn):
    """``fn`` as an output consumer: what it raises is reported, and the reading goes on."""
    def consume(chunk):
        try:
            fn(chunk)
        except Exception as e:
            warnings.warn(f"an output callback raised {type(e).__name__}: {e}", RuntimeWarning, stacklevel=2)

    return consume


def submit(client, requests, block, finish, stream=False):
    """Send ``[(header, buffers), ...]`` for ``client``; wait for ``finish(replies)`` (no
    PendingResult, no future) or return a PendingResult (with ``stream``, one that takes the
    output the calls stream).

    From the moment a request has an id until the wait ends, a failure drops the late
    replies, and Ctrl-C stops the calls on the engines too (``kernel.client.interrupts``):
    a Ctrl-C that lands just as a request went out, before any wait began, once left its
    call running.
    """
    connection, rids = client._connection, []
    try:
        for header, buffers in requests:
            connection.request(header, buffers, sent=rids)
        if not block:
            pending = PendingResult(client, rids, finish, stream)  # before anything is read: the output goes to it
            connection.drain()  # replies that have arrived leave the controller's buffers
            return pending
        replies, error = _take(connection, rids)
    except BaseException as e:
        connection.forget(rids)
        if isinstance(e, KeyboardInterrupt):
            interrupts.stop_calls(connection, rids)
        raise
    return outcome(replies, error, finish, rids[-1] if rids else None)


def outcome(replies, error, finish, result_id):
    """``finish(replies)``, or the first error raised (a spent request id as InvalidDeferredID)."""
    if isinstance(error, ResultAlreadyRetrieved):
        raise InvalidDeferredID(f"invalid deferred id: {result_id!r} (its result was flushed, or lost with "
                                "the connection)")
    if error is not None:
        raise error
    return finish(replies)


def _take(connection, rids):
    """Every reply of ``rids`` (waiting for each), and the first error; none is left behind."""
    replies, error = [], None
    for rid in rids:
        try:
            replies.append(connection.wait(rid))
        except Exception as e:
            error = error or e
    return replies, error


def done(client, value):
    """A PendingResult that is already complete (for calls with no targets)."""
    pending = PendingResult(client, (), None)
    pending._set(value)
    pending._store(value, raised=False)
    return pending


def _fetch(pending, block):
    """Take in ``pending``'s result if it is there (or wait, with ``block``); an error stays with it."""
    try:
        pending._taken(None, block)
    except Exception:
        pass  # kept: ``r`` and ``get_result`` raise it


def wait_for_all(pending_results, progress=None):
    """``mec.barrier``: wait for every PendingResult, in the order they were made.

    ``progress`` as ``progress_bar`` takes it: with a bar, results that
    arrived out of order are taken in (and counted) as they come. Ctrl-C
    stops the calls not yet answered on the engines too.
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
    try:
        _wait_for_each(sorted(pending_results), progress)
    except KeyboardInterrupt:
        _stop_unanswered(pending_results)
        raise


def _wait_for_each(left, progress):
    total = len(left)
    bar = progress_bar(progress, total, "barrier")
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
            bar.update(total - len(left))


def _stop_unanswered(pending_results):
    """Stop the calls of the PendingResults not answered, one request per connection."""
    by_connection = {}
    for pr in pending_results:
        if not pr.called and not Future.done(pr):
            by_connection.setdefault(pr._connection, []).extend(pr._rids)
    for connection, rids in by_connection.items():
        interrupts.stop_calls(connection, rids)
