"""Capture of stdout, stderr and displayed values while user code runs.

``sys.stdout`` and ``sys.stderr`` are replaced once by proxies that send the
writes of the executing thread to the current capture and everything else to
the real stream, so log output from other threads is never swallowed.
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


def install():
    """Put the proxies in place (idempotent)."""
    if not isinstance(sys.stdout, _Proxy):
        sys.stdout = _Proxy("stdout", sys.stdout)
    if not isinstance(sys.stderr, _Proxy):
        sys.stderr = _Proxy("stderr", sys.stderr)


class Capture:
    """A context in which this thread's output and displayed value are kept."""

    def __init__(self):
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self.display = None

    def displayhook(self, value):
        if value is not None:
            self.display = {"pprint": pprint.pformat(value), "repr": repr(value)}

    def __enter__(self):
        install()
        _local.capture = self
        self._saved_hook = sys.displayhook
        sys.displayhook = self.displayhook
        return self

    def __exit__(self, *exc):
        sys.displayhook = self._saved_hook
        _local.capture = None
        return False
