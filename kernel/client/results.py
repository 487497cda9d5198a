"""What non-blocking calls return, and how execute results print."""

import sys

from kernel.errors import KernelError


class NotAPendingResult(KernelError, TypeError):
    """barrier() was given something that is not a PendingResult."""


class InvalidDeferredID(KernelError):
    """The pending result was flushed and can no longer be fetched."""


_COLOURS = {"green": "\033[0;32m", "blue": "\033[0;34m", "red": "\033[0;31m", "normal": "\033[0m"}


def _colours():
    tty = hasattr(sys.stdout, "isatty") and sys.stdout.isatty()
    return {k: (v if tty else "") for k, v in _COLOURS.items()}


class ResultList(list):
    """A list of execute result dicts with the legacy console repr."""

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


class PendingResult:
    """A result that will arrive later; ``r`` waits for it.

    Errors are cached and re-raised on every access, as in the legacy client.
    """

    def __init__(self, client, rid, finish):
        self.client = client
        self.result_id = rid
        self._finish = finish  # (header, buffers) -> value, may raise
        self.callbacks = []
        self.called = False
        self.raised = False
        self._value = None

    def __lt__(self, other):
        return self.result_id < other.result_id

    def add_callback(self, f, *args, **kwargs):
        """Apply ``f(result, *args, **kwargs)`` when the result is fetched."""
        self.callbacks.append((f, args, kwargs))

    def get_result(self, default=None, block=True):
        if self.called:
            if self.raised:
                raise self._value
            return self._value
        connection = self.client._connection
        if not block and not connection.ready(self.result_id):
            return default
        try:
            header, buffers = connection.wait(self.result_id)
        except KernelError as e:
            if type(e).__name__ == "ResultAlreadyRetrieved":
                e = InvalidDeferredID(f"invalid deferred id: {self.result_id!r} (flushed?)")
            self._store(e, raised=True)
            raise e from None
        try:
            value = self._finish(header, buffers)
            for f, args, kwargs in self.callbacks:
                value = f(value, *args, **kwargs)
        except Exception as e:
            self._store(e, raised=True)
            raise
        self._store(value, raised=False)
        return value

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
