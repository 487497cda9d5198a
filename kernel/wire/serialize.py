"""Serialization of user values: cloudpickle protocol 5, buffers out of band.

Functions, lambdas and closures travel whole. numpy arrays (and anything else
exposing ``PickleBuffer``) are not copied into the pickle: their memory goes
out as separate frame buffers and the receiver's arrays wrap the received,
writable ``bytearray`` directly. Only clients and engines call ``loads``; the
controller forwards the pieces as opaque bytes.

Between a client and an engine on one host, ``share`` moves buffers of
``SHM_MIN`` bytes and more into shared-memory segments (``kernel.wire.shm``,
``kernel.wire.shmpool``):
their frame buffers go out empty and the head becomes an envelope, ``ENVELOPE``,
the manifest's length (``!I``), the manifest (JSON ``[[buffer index, ticket
name, size], ...]``) and then the pickle. A protocol 5 pickle always begins
with ``b"\\x80\\x05"``, so the two cannot be confused. ``loads`` maps the
segments in place of those buffers, without copying them.
"""

from collections import ChainMap
import io
import json
import marshal
import pickle
import struct
import types

import cloudpickle

from kernel.values import is_int
from kernel.wire import byvalue, shm, shmpool

OUT_OF_BAND_MIN = 4096  # smaller buffers are cheaper in-band
SHM_MIN = 1 << 20  # smaller buffers are cheaper through the socket
ENVELOPE = b"KSHM"
MANIFEST_LENGTH = struct.Struct("!I")


def _reduce_code(code):
    """Code objects travel as ``marshal`` writes them, file name and line table included.

    Remote tracebacks need the file each frame came from, which cloudpickle
    (3.1.3 and later) replaces with ``<dynamic-code>``. ``marshal`` is the
    interpreter's own format for code, as exact as the bytecode itself: both
    need the same Python minor version on each side.
    """
    return marshal.loads, (marshal.dumps(code),)


class _Pickler(cloudpickle.Pickler):
    """cloudpickle's pickler: code objects reduced by ``_reduce_code``, the
    user's own modules sent by value (``kernel.wire.byvalue``), and the
    objects of a ``Shared`` as their ready pickle."""

    dispatch_table = ChainMap({types.CodeType: _reduce_code}, cloudpickle.Pickler.dispatch_table)

    def __init__(self, file, shared=None, **options):
        super().__init__(file, **options)
        self.shared = shared

    def reducer_override(self, obj):
        if self.shared is not None:
            ready = self.shared.pickle_of(obj)
            if ready is not None:
                return _unpickled, (ready,)
        if isinstance(obj, (types.FunctionType, type)):
            byvalue.route(obj)
        return super().reducer_override(obj)


SHARED_KEPT = 64  # objects of ``Shared`` pickles a receiver keeps, the newest
SHARED_KEPT_MAX = 1 << 20  # bytes of pickle past which one is not kept
_kept = {}  # pickle -> the object it gave


def _unpickled(data):
    """An object of a ``Shared``, from the pickle it travels as inside another: unpickled once for all the
    tasks of a map that carry it, as dask's workers do, if its pickle is small."""
    obj = _kept.get(data, _kept)
    if obj is _kept:
        obj = pickle.loads(data)
        if len(data) <= SHARED_KEPT_MAX:
            if len(_kept) >= SHARED_KEPT:
                del _kept[next(iter(_kept))]
            _kept[data] = obj
    return obj


class Shared:
    """Objects pickled once for the many pickles that hold them: a map's function.

    Pickling a function sent by value (its code, the globals it uses) costs
    far more than a tiny task's arguments; each task of a map carries the
    function's pickle as made once, when the map began, and the receiver
    unpickles it once (the same function for every task that carries the
    same pickle, as a function imported from a module would be). Objects
    whose pickle needs out-of-band buffers are pickled each time, as usual.
    """

    def __init__(self, *objects):
        self._pickles = {}  # id -> (the object, kept alive so that its id is not reused; its pickle)
        for obj in objects:
            try:
                head, *buffers = dumps(obj)
            except Exception:
                continue  # each pickle that holds it fails, and says why
            if not buffers:
                self._pickles[id(obj)] = (obj, head)

    def pickle_of(self, obj):
        ready = self._pickles.get(id(obj))
        return ready[1] if ready is not None and ready[0] is obj else None


_PLAIN = frozenset({type(None), bool, int, float, complex, str})  # pickled alike by pickle and cloudpickle


def dumps(obj, shared=None):
    """Return ``[pickle_bytes, *raw_buffers]`` for ``obj``; the objects of ``shared`` (a ``Shared``) in it
    go as their ready pickle."""
    if type(obj) in _PLAIN:  # a task's result, mostly: the standard pickler, without cloudpickle's setup
        return [pickle.dumps(obj, protocol=5)]
    buffers = []

    def keep(buf):
        raw = buf.raw()
        if raw.nbytes < OUT_OF_BAND_MIN:
            return True  # serialize in-band
        buffers.append(raw)
        return False

    out = io.BytesIO()
    _Pickler(out, shared, protocol=5, buffer_callback=keep).dump(obj)
    return [out.getvalue(), *buffers]


def unpicklable_global(func):
    """The name of a global that ``func`` uses and that cannot be pickled, if any: for an error to name it."""
    code, names = getattr(func, "__code__", None), getattr(func, "__globals__", {})
    for name in code.co_names if code is not None else ():
        if name in names:
            try:
                dumps(names[name])
            except Exception:
                return name
    return None


def has_big_buffers(pieces):
    """Whether ``share`` would move any of these pieces into shared memory."""
    return any(memoryview(b).nbytes >= SHM_MIN for b in pieces[1:])


def share(pieces, consumers, spare=False):
    """``pieces`` once per consumer pid, each naming its own tickets to the big buffers' segments.

    Returns ``(copies, tickets)``: the pieces to send to each consumer and
    every ticket handed out. A buffer that finds no room in ``/dev/shm``
    stays inline. ``spare`` is passed on to ``shmpool.create``.
    """
    head, *buffers = pieces
    segments = {}  # buffer index -> (one ticket per consumer, size)
    for index, buf in enumerate(buffers):
        size = memoryview(buf).nbytes
        if size >= SHM_MIN:
            try:
                segments[index] = (shmpool.create(buf, consumers, spare), size)
            except shm.SharedMemoryError:
                pass  # /dev/shm is full: this buffer goes through the socket
    if not segments:
        return [pieces] * len(consumers), []
    rest = [b"" if index in segments else buf for index, buf in enumerate(buffers)]
    copies = []
    for c in range(len(consumers)):
        manifest = json.dumps([[index, names[c], size] for index, (names, size) in segments.items()])
        encoded = manifest.encode("ascii")
        copies.append([b"".join([ENVELOPE, MANIFEST_LENGTH.pack(len(encoded)), encoded, head]), *rest])
    return copies, [name for names, _ in segments.values() for name in names]


def _manifest(head, buffers):
    """The checked manifest of an envelope, and the pickle after it.

    It comes from a peer: every entry must be ``[index, name, size]`` with an
    index of an empty buffer (each at most once), a segment name and a size.
    """
    view = memoryview(head).cast("B")
    start = len(ENVELOPE) + MANIFEST_LENGTH.size
    if view.nbytes < start:
        raise shm.SharedMemoryError("shared-memory envelope cut short before its manifest")
    (length,) = MANIFEST_LENGTH.unpack_from(view, len(ENVELOPE))
    if start + length > view.nbytes:
        raise shm.SharedMemoryError(f"shared-memory manifest of {length} bytes runs past the "
                                    f"{view.nbytes}-byte envelope")
    try:
        manifest = json.loads(bytes(view[start:start + length]))
    except ValueError as e:
        raise shm.SharedMemoryError(f"shared-memory manifest is not JSON: {e}") from None
    if not isinstance(manifest, list):
        raise shm.SharedMemoryError(f"shared-memory manifest must be a list, not {str(manifest)[:80]}")
    seen = set()
    for entry in manifest:
        if not (isinstance(entry, list) and len(entry) == 3):
            raise shm.SharedMemoryError(f"shared-memory manifest entry {str(entry)[:80]} is not "
                                        "[buffer index, segment name, size]")
        index, name, size = entry
        if not is_int(index) or not 0 <= index < len(buffers):
            raise shm.SharedMemoryError(f"shared-memory manifest names buffer {index!r}, but "
                                        f"there are {len(buffers)}")
        if index in seen or memoryview(buffers[index]).nbytes:
            raise shm.SharedMemoryError(f"shared-memory manifest names buffer {index}, which is "
                                        "not an empty placeholder (or is named twice)")
        seen.add(index)
        shm.check(name, size)
    return manifest, view[start + length:]


def loads(pieces):
    """Inverse of ``dumps`` (and of ``share``); arrays share the received or mapped memory.

    Each ticket is unlinked once mapped, and so are the rest of a manifest's
    tickets when one of them cannot be mapped.
    """
    head, *buffers = pieces
    if memoryview(head)[:len(ENVELOPE)] == ENVELOPE:
        manifest, head = _manifest(head, buffers)
        try:
            for index, name, size in manifest:
                buffers[index] = shm.attach(name, size)
        except shm.SharedMemoryError:
            shm.remove([name for _, name, _ in manifest])
            raise
    return pickle.loads(head, buffers=buffers)
