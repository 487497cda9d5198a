"""Framing: a JSON header plus raw buffers, self-delimiting.

A frame is ``!IH`` (header length, buffer count), one ``!Q`` length per
buffer, the UTF-8 JSON header, then the buffers back to back. The header is
small control data any side may parse safely; buffers are opaque bytes (user
data pickled by clients and engines) that a controller forwards untouched.
Large buffers are received straight into one preallocated ``bytearray`` each,
so receiving costs one copy and O(n) time however the bytes are chunked.
"""

import json
import mmap
import struct

from kernel.errors import MessageSizeError, ProtocolError
from kernel.values import is_int

PREFIX = struct.Struct("!IH")
LENGTH = struct.Struct("!Q")
MAX_HEADER = 16 * 1024 * 1024
MAX_BUFFERS = 65535
SMALL = 64 * 1024  # below this, parts are joined into one write
LAZY_MIN = 1 << 20  # buffers this big are received into memory maps
# made once: json.dumps with options builds an encoder per call, and json.loads
# of bytes first guesses their encoding (headers are UTF-8); 0.5 µs each per message
_ENCODER = json.JSONEncoder(separators=(",", ":"))
_DECODER = json.JSONDecoder()


def encode(header, buffers=()):
    """Return the frame as a list of byte strings ready for ``writeSequence``."""
    head = _ENCODER.encode(header).encode("utf-8")
    if len(head) > MAX_HEADER:
        raise MessageSizeError(f"the message's header would be {len(head) / 2**20:.1f} MiB, over the "
                               f"{MAX_HEADER // 2**20} MiB limit (values sent with push or in tasks have none)")
    if len(buffers) > MAX_BUFFERS:
        raise MessageSizeError(f"the message would have {len(buffers)} buffers, over the {MAX_BUFFERS} limit")
    lengths = [memoryview(b).nbytes for b in buffers]
    parts = [PREFIX.pack(len(head), len(buffers)), *(LENGTH.pack(n) for n in lengths), head]
    if sum(lengths) <= SMALL:
        return [b"".join([*parts, *(bytes(b) if not isinstance(b, bytes) else b for b in buffers)])]
    return [b"".join(parts), *(memoryview(b).cast("B") for b in buffers)]


def split(counts, buffers, what="buffer counts"):
    """Cut a frame's flat list of buffers into consecutive groups of the given sizes.

    ``counts`` comes from a peer's header, so it is checked: non-negative ints
    that add up to exactly the buffers there are.
    """
    if not isinstance(counts, list) or not all(
            is_int(n) and n >= 0 for n in counts):
        raise ProtocolError(f"bad {what} {str(counts)[:80]}")
    if sum(counts) != len(buffers):
        raise ProtocolError(f"{what} add up to {sum(counts)}, but the frame has {len(buffers)} buffers")
    groups, at = [], 0
    for n in counts:
        groups.append(buffers[at:at + n])
        at += n
    return groups


def allocate(n):
    """A writable buffer of ``n`` bytes to receive into.

    Big ones are anonymous memory maps: the kernel hands out zero pages as
    they are first written, so announcing a size costs nothing until the
    bytes arrive, and nothing is spent zero-filling what is about to be
    overwritten.
    """
    try:
        return mmap.mmap(-1, n) if n >= LAZY_MIN else bytearray(n)
    except (OSError, MemoryError, OverflowError) as e:
        raise ProtocolError(f"cannot allocate a buffer of {n} bytes: {e}") from None


def _json(text):
    """The JSON value ``text`` holds. Our peers send it with no whitespace around, which
    ``raw_decode`` takes without the two regular-expression matches that look for it."""
    try:
        value, end = _DECODER.raw_decode(text)
        if end == len(text):
            return value
    except ValueError:
        pass
    return _DECODER.decode(text)  # whitespace around it, or the error naming what is wrong


def _parse_header(chunk):
    try:
        header = _json(str(chunk, "utf-8"))
    except ValueError as e:
        raise ProtocolError(f"header is not JSON: {e}") from None
    except RecursionError:
        raise ProtocolError("header is JSON nested too deeply to read") from None
    if not isinstance(header, dict) or not isinstance(header.get("op"), str):
        raise ProtocolError("header must be a JSON object with a string 'op'")
    return header


class FrameDecoder:
    """Incremental decoder: feed it bytes in any chunks, get whole messages.

    ``max_frame`` bounds the total size of one frame (None: only memory);
    anything malformed raises ProtocolError and the connection should close.
    """

    def __init__(self, max_frame=None, max_header=MAX_HEADER, allocate=allocate):
        self.max_frame = max_frame
        self._allocate = allocate
        self.max_header = max_header
        self._buf = bytearray()
        self._state = FrameDecoder._read_prefix  # unbound: no cycle keeps a dropped decoder alive
        self._need = PREFIX.size
        self._header_len = 0
        self._lengths = []
        self._header = None
        self._buffers = []
        self._target = None  # the preallocated buffer being filled
        self._filled = 0

    def feed(self, data):
        """Consume ``data``; return the list of ``(header, buffers)`` completed."""
        out = []
        view = memoryview(data)
        if self._state is FrameDecoder._read_prefix and not self._buf and self._target is None:
            view = self._whole_frames(view, out)
        while view.nbytes:
            if self._target is not None:
                view = self._fill(view, out)
                continue
            take = min(self._need - len(self._buf), view.nbytes)
            self._buf += view[:take]
            view = view[take:]
            if len(self._buf) == self._need:
                chunk = bytes(self._buf)
                self._buf.clear()
                self._state(self, chunk, out)
        return out

    def _whole_frames(self, view, out):
        """Decode the frames at the start of ``view`` that are all there; return what follows them.

        Small messages mostly arrive whole, and taking one apart in a single
        step costs a fraction of walking it through the states below. A frame
        cut short, or with a buffer to be received in place, is left to them.
        """
        at, end = 0, view.nbytes
        while end - at >= PREFIX.size:
            header_len, nbufs = PREFIX.unpack_from(view, at)
            self._check_header_length(header_len)
            start = at + PREFIX.size + LENGTH.size * nbufs
            if start > end:
                break
            lengths = struct.unpack_from(f"!{nbufs}Q", view, at + PREFIX.size)
            body = sum(lengths)
            self._check_size(header_len + body)
            stop = start + header_len + body
            if stop > end or (lengths and max(lengths) >= LAZY_MIN):
                break
            header = _parse_header(view[start:start + header_len])
            buffers, at = [], start + header_len
            for n in lengths:
                buffers.append(bytearray(view[at:at + n]))
                at += n
            out.append((header, buffers))
        return view[at:]

    def _expect(self, n, state):
        self._need = n
        self._state = state

    def _read_prefix(self, chunk, out):
        self._header_len, nbufs = PREFIX.unpack(chunk)
        self._check_header_length(self._header_len)
        if nbufs:
            self._expect(LENGTH.size * nbufs, FrameDecoder._read_lengths)
        else:
            self._lengths = []
            self._expect(self._header_len, FrameDecoder._read_header)

    def _read_lengths(self, chunk, out):
        self._lengths = [LENGTH.unpack_from(chunk, i)[0] for i in range(0, len(chunk), LENGTH.size)]
        self._check_size(self._header_len + sum(self._lengths))
        self._expect(self._header_len, FrameDecoder._read_header)

    def _check_header_length(self, n):
        if not 2 <= n <= self.max_header:
            raise ProtocolError(f"bad header length {n}")
        self._check_size(n)

    def _check_size(self, total):
        if self.max_frame is not None and total > self.max_frame:
            raise ProtocolError(f"frame of {total} bytes exceeds the limit of {self.max_frame}")

    def _read_header(self, chunk, out):
        self._header = _parse_header(chunk)
        self._buffers = []
        self._next_buffer(out)

    def _next_buffer(self, out):
        while len(self._buffers) < len(self._lengths):
            n = self._lengths[len(self._buffers)]
            if n:
                self._target = self._allocate(n)
                self._filled = 0
                return
            self._buffers.append(bytearray())
        out.append((self._header, self._buffers))
        self._header, self._buffers = None, []
        self._expect(PREFIX.size, FrameDecoder._read_prefix)

    def _fill(self, view, out):
        take = min(len(self._target) - self._filled, view.nbytes)
        self._target[self._filled:self._filled + take] = view[:take]
        self._advance(take, out)
        return view[take:]

    def _advance(self, n, out):
        self._filled += n
        if self._filled == len(self._target):
            self._buffers.append(self._target)
            self._target = None
            self._next_buffer(out)

    def get_buffer(self):
        """The unfilled rest of the buffer being received, to read into directly; else None.

        Reading a big buffer's bytes straight into place saves a copy of each.
        """
        if self._target is None:
            return None
        return memoryview(self._target)[self._filled:]

    def buffer_updated(self, n):
        """``n`` bytes were written at the start of ``get_buffer()``; return the messages completed."""
        out = []
        self._advance(n, out)
        return out
