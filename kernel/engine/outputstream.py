"""One command's printed text on its way to the client that asked for it, as it is printed.

A call made with ``stream`` (``kernel.wire.messages.Output``) sends what its
command writes to stdout and stderr in ``output`` messages while it runs.
Writes are batched: a chunk goes out once ``OUTPUT_CHUNK`` bytes wait, or
``FLUSH_EVERY`` seconds after the first write since the last one went (a
timer on the reactor's thread), and whatever is left when the command ends
goes out before its reply. So a loop of prints costs a list append each,
and at most one timer each ``FLUSH_EVERY``. In an engine process the
reactor's thread is the one running the command, so its stand-in
(``kernel.engine.standin``) sends what waits instead, each ``FLUSH_EVERY``.

Nothing here can grow without bound: a chunk is dropped, not queued, while
more than ``OUTPUT_BACKLOG`` bytes wait unsent on the connection. Each chunk
says where in its stream it starts (``at``, in bytes), so the reader sees
the gap (one at the very end is marked by an empty chunk when the command
ends); the reply still has the whole text, as it always had.
"""

import threading

from kernel.wire import messages
from kernel.wire.messages import OUTPUT_BACKLOG, OUTPUT_CHUNK

FLUSH_EVERY = 0.05  # seconds printed text may wait for more before it goes out
NAMES = ("stdout", "stderr")


def pieces(data, most):
    """``data`` (UTF-8) cut into pieces of at most ``most`` bytes, never inside a character."""
    start = 0
    while len(data) - start > most:
        end = start + most
        while data[end] & 0xC0 == 0x80:  # a continuation byte: the character began before it
            end -= 1
        yield data[start:end]
        start = end
    yield data[start:]


class OutputStream:
    """The ``output`` messages of command ``cid``, sent on ``protocol`` (``FramedProtocol``).

    ``write`` is called on the thread that runs the command, the timer on
    the reactor's; the lock keeps their chunks whole and in order.
    """

    def __init__(self, reactor, protocol, cid):
        self.reactor = reactor
        self.protocol = protocol
        self.cid = cid
        self._lock = threading.Lock()
        self._parts = {name: [] for name in NAMES}  # encoded writes not sent yet
        self._size = 0
        self._at = dict.fromkeys(NAMES, 0)  # bytes of each stream before the parts
        self._gaps = set()  # the streams whose last chunk was dropped
        self._timed = False  # a timer will send what waits
        self._closed = False

    def write(self, name, text):
        """Keep ``text`` (written to ``name``) for the next chunk; send now if a chunk's worth waits."""
        data = text.encode("utf-8", "surrogatepass")  # lone surrogates pass; the reader replaces them
        if not data:
            return
        with self._lock:
            if self._closed:
                return
            self._parts[name].append(data)
            self._size += len(data)
            if self._size >= OUTPUT_CHUNK:
                self._flush()
            elif not self._timed:
                self._timed = True
                self.reactor.callFromThread(self.reactor.callLater, FLUSH_EVERY, self._timer)

    def close(self):
        """Send what waits; nothing more goes out (the command's reply follows)."""
        with self._lock:
            if not self._closed:
                self._flush()
                self._closed = True
                for name in self._gaps:  # a few bytes, whatever waits: the reader learns where it ends
                    self.protocol.send_from_thread(self._header(name), [b""])

    def flush(self):
        """Send what waits now; the engine's stand-in calls it every FLUSH_EVERY s while the reactor's
        thread runs the command and its timer cannot (``kernel.engine.standin``)."""
        with self._lock:
            if not self._closed:
                self._flush()

    def _timer(self):
        with self._lock:
            self._timed = False
        self.flush()

    def _flush(self):
        for name, parts in self._parts.items():
            if parts:
                data = b"".join(parts)
                parts.clear()
                for piece in pieces(data, OUTPUT_CHUNK):
                    self._send(name, piece)
        self._size = 0

    def _send(self, name, piece):
        protocol = self.protocol
        if protocol.connected and protocol.get_write_buffer_size() <= OUTPUT_BACKLOG:
            protocol.send_from_thread(self._header(name), [piece])
            self._gaps.discard(name)
        else:
            self._gaps.add(name)
        self._at[name] += len(piece)

    def _header(self, name):
        return messages.Output.header(cid=self.cid, name=name, at=self._at[name])
