"""Live output: what an ``execute`` prints on the engines, seen here as it is printed.

A non-blocking ``execute`` asks the engines to stream (``stream`` in its
``call``): each sends what the code writes to stdout and stderr in
``output`` messages while it runs (``kernel.engine.outputstream``), and the
controller passes them on to this client. Its connection hands each to the
call's ``OutputBuffer`` (``Connection.output_sinks``), whichever thread reads.
The buffer passes every chunk on, in order, to its consumers: ``Printer``
(``PendingResult.stream_output``, ``%px --stream``) or a function of the
program's (``PendingResult.add_output_callback``); it keeps the first
``KEEP_MOST`` bytes for a consumer that comes later.

Nothing is lost for good: each chunk says where its bytes start in the
engine's stream, so a chunk dropped on the way (a side that was reading
too slowly; see ``kernel.wire.messages.Output``) shows as a gap, and once
the call's result is in, what it has beyond the last chunk seen is passed
on too (the result has the whole text).
"""

import sys
import threading
from typing import NamedTuple

KEEP_MOST = 1 << 20  # bytes of output a call keeps until a consumer asks for them


class OutputChunk(NamedTuple):
    """A piece of one engine's output: ``text`` written to ``name`` (``'stdout'`` or ``'stderr'``)
    on engine ``id``, after ``dropped`` bytes of it that were not delivered."""

    id: int
    name: str
    text: str
    dropped: int = 0


class OutputBuffer:
    """The output of one streamed call, from the connection's reader to its consumers, in order.

    The first ``KEEP_MOST`` bytes are kept, so that a consumer that comes
    late is shown them first; after them, it sees a gap.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._kept = []  # (id, name, at, data) of the first KEEP_MOST bytes
        self._kept_bytes = 0
        self._consumers = []
        self._final = None  # the result's entries, once it is in

    def feed(self, header, buffers):
        """One ``output`` message (on the thread reading the connection, under its lock)."""
        if len(buffers) != 1:
            return  # not what the protocol sends: nothing to show
        chunk = (header.get("id"), header["name"], header["at"], bytes(buffers[0]))
        with self._lock:
            if self._kept_bytes + len(chunk[3]) <= KEEP_MOST:
                self._kept.append(chunk)
                self._kept_bytes += len(chunk[3])
            for consumer in self._consumers:
                consumer.take(*chunk)

    def finish(self, replies):
        """The call's replies are in: pass on what their results printed beyond the chunks seen."""
        entries = [entry for header, _ in replies for entry in header.get("results") or ()]
        with self._lock:
            self._final = entries
            for consumer in self._consumers:
                consumer.tails(entries)

    def attach(self, fn):
        """Pass ``fn(chunk)`` the chunks kept so far, then each as it comes (and the result's rest)."""
        consumer = _Consumer(fn)
        with self._lock:
            for chunk in self._kept:
                consumer.take(*chunk)
            if self._final is not None:
                consumer.tails(self._final)
            self._consumers.append(consumer)


class _Consumer:
    """One consumer and how far into each engine's stream it has been given the output."""

    def __init__(self, fn):
        self.fn = fn
        self.seen = {}  # (id, name) -> bytes of that stream given (or passed over) so far

    def take(self, eid, name, at, data):
        key = (eid, name)
        seen = self.seen.get(key, 0)
        if at + len(data) <= seen:
            return  # given already
        self.seen[key] = at + len(data)
        self.fn(OutputChunk(eid, name, data.decode("utf-8", "replace"), max(0, at - seen)))

    def tails(self, entries):
        """What each result's text has beyond what was given: dropped on the way, or printed last."""
        for entry in entries:
            value = entry.get("value") if entry.get("status") == "ok" else None
            if not isinstance(value, dict):
                continue
            for name in ("stdout", "stderr"):
                text = value.get(name)
                if isinstance(text, str):
                    data = text.encode("utf-8", "surrogatepass")
                    seen = self.seen.get((entry.get("id"), name), 0)
                    if len(data) > seen:
                        self.take(entry.get("id"), name, seen, data[seen:])


class Printer:
    """Prints chunks as ``%px --stream`` shows them: each line after ``[stdout:N]`` or ``[stderr:N]``.

    A line is printed as its pieces come, however long; when another
    engine's output comes before a line has ended, the line is ended first,
    so that every line starts with whose it is. stdout goes to ``file`` (else
    ``sys.stdout``), stderr to ``file`` (else ``sys.stderr``).
    """

    def __init__(self, file=None):
        self.file = file
        self._open = {}  # output file -> (id, name) whose line is not ended there

    def __call__(self, chunk):
        out = self.file or (sys.stderr if chunk.name == "stderr" else sys.stdout)
        key = (chunk.id, chunk.name)
        prefix = f"[{chunk.name}:{chunk.id}] "
        pieces = []
        if self._open.get(out) not in (None, key):
            pieces.append("\n")
            self._open[out] = None
        if chunk.dropped:
            if self._open.get(out) == key:
                pieces.append("\n")
            pieces.append(f"{prefix}({chunk.dropped} bytes of output not shown here: this client read too "
                          f"slowly; the result has them all)\n")
            self._open[out] = None
        lines = chunk.text.split("\n")
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            if last and not line:
                break
            if self._open.get(out) != key:
                pieces.append(prefix)
            pieces.append(line if last else line + "\n")
            self._open[out] = key if last else None
        _write(out, "".join(pieces))

    def close(self):
        """End the lines left open."""
        for out, key in list(self._open.items()):
            if key is not None:
                _write(out, "\n")
        self._open.clear()


def _write(out, text):
    """Write and flush; text the file's encoding cannot take is written with escapes."""
    try:
        out.write(text)
    except UnicodeEncodeError:
        encoding = getattr(out, "encoding", None) or "ascii"
        out.write(text.encode(encoding, "backslashreplace").decode(encoding))
    out.flush()
