"""Capture of stdout, stderr and displayed values while user code runs.

``sys.stdout``, ``sys.stderr`` and ``sys.displayhook`` are replaced by proxies
that send what the executing thread writes or displays to its current capture
and everything else to the real stream or hook. Log output from other threads
is never swallowed, and engines running in threads of one process (the
in-process engines) each keep their own output.

The proxies are put back in place at the start of every capture, because
other code (pytest, an IPython shell) may swap the real streams in between.
"""

import io
import pprint
import sys
import threading

_local = threading.local()


class _Proxy(io.TextIOBase):
    def __init__(self, name, real):
        self._name = name
        self._real = real

    def _target(self):
        capture = getattr(_local, "capture", None)
        return getattr(capture, self._name) if capture is not None else self._real

    def write(self, text):
        return self._target().write(text)

    def flush(self):
        self._target().flush()

    def writable(self):
        return True

    def isatty(self):
        return False

    @property
    def encoding(self):
        return "utf-8"

    def fileno(self):
        return self._real.fileno()


class _DisplayProxy:
    """``sys.displayhook`` that reports to this thread's capture, if any."""

    def __init__(self, real):
        self._real = real

    def __call__(self, value):
        capture = getattr(_local, "capture", None)
        if capture is None:
            return self._real(value)
        return capture.displayhook(value)


def install():
    """Put the proxies in place (idempotent)."""
    if not isinstance(sys.stdout, _Proxy):
        sys.stdout = _Proxy("stdout", sys.stdout)
    if not isinstance(sys.stderr, _Proxy):
        sys.stderr = _Proxy("stderr", sys.stderr)
    if not isinstance(sys.displayhook, _DisplayProxy):
        sys.displayhook = _DisplayProxy(sys.displayhook)


class Capture:
    """A context in which this thread's output and displayed value are kept.

    ``display`` is the last non-None value shown by the displayhook, as the
    legacy ``{'pprint': ..., 'repr': ...}`` dict.
    """

    def __init__(self):
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self.display = None

    def displayhook(self, value):
        if value is not None:
            try:
                self.display = {"pprint": pprint.pformat(value), "repr": repr(value)}
            except Exception as e:  # a broken __repr__ must not fail the command
                text = f"<unrepresentable {type(value).__name__}: {type(e).__name__}: {e}>"
                self.display = {"pprint": text, "repr": text}

    def __enter__(self):
        install()
        self._outer = getattr(_local, "capture", None)
        _local.capture = self
        return self

    def __exit__(self, *exc):
        _local.capture = self._outer
        return False
