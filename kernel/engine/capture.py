"""Capture of stdout, stderr and displayed values while user code runs.

``sys.stdout``, ``sys.stderr`` and ``sys.displayhook`` are replaced by proxies
that send what the executing thread writes or displays to its current capture
and everything else to the real stream or hook. Log output from other threads
is never swallowed, and engines running in threads of one process (the
in-process engines) each keep their own output.

The proxies are put back in place at the start of every capture, because
other code (pytest, an IPython shell) may swap the real streams in between.

Inside ``streaming(stream)``, the thread's next capture also hands each write
to ``stream`` (an ``outputstream.OutputStream``) as it happens, so that a
client sees it while the command still runs.
"""

import contextlib
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


class _Streamed(io.StringIO):
    """A captured stream whose writes are also handed to an OutputStream as they come."""

    def __init__(self, name, stream):
        super().__init__()
        self._name = name
        self._stream = stream

    def write(self, text):
        n = super().write(text)  # a TypeError for what is not text, before anything is sent
        self._stream.write(self._name, text)
        return n


@contextlib.contextmanager
def streaming(stream):
    """The next capture on this thread streams its writes to ``stream``, which is closed at the end."""
    _local.stream = stream
    try:
        yield
    finally:
        _local.stream = None
        stream.close()


class Capture:
    """A context in which this thread's output and displayed value are kept.

    ``display`` is the last non-None value shown by the displayhook, as the
    legacy ``{'pprint': ..., 'repr': ...}`` dict.
    """

    def __init__(self):
        stream = getattr(_local, "stream", None)
        if stream is None:
            self.stdout = io.StringIO()
            self.stderr = io.StringIO()
        else:
            _local.stream = None  # one capture a command: one nested in it keeps its own
            self.stdout = _Streamed("stdout", stream)
            self.stderr = _Streamed("stderr", stream)
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
