"""The shared-memory segments this process makes, handed out by tickets and reused when idle.

``create`` copies a buffer into a segment and returns one ticket per consumer
(see ``kernel.wire.shm``). A segment with no ticket out and no consumer still
mapping it (its lock is free) is overwritten by the next buffer of the same
size: one copy into pages that already exist, instead of the kernel handing
out fresh pages and taking them back later, which costs more than the copy.
A new segment is written with ``pwrite`` (the fastest way to fill fresh
pages); the first reuse maps it here with its pages in place, and later ones
are a plain memcpy.

Fresh pages are the slow part of a big transfer (on a VM, about 1.5 GB/s
against 9 GB/s for a copy into pages that exist), and the second buffer of a
size finds the first one still held by its consumer. So when asked to
(``create(..., spare=True)``: a client's pushes, which replace what the
engines hold), a new segment of ``SPARE_MIN`` bytes or more gets a *spare* of
its size, allocated by a background thread while the first one travels: the
next buffer of that size is copied into it, and the two then take turns.
Engines do not ask: the spare's work would compete with their next command,
while a client mostly waits.

Limits keep this bounded: at most ``KEPT_MAX`` segments are kept for reuse
(a descriptor each once mapped) and at most ``IDLE_MAX`` bytes of idle ones,
the most recently written first; a segment bigger than that is never kept.
A segment past them is retired: its name goes, and consumers keep what they
mapped. A ticket whose consumer died is removed at the next ``create``; at
exit everything this process made is removed.
"""

import atexit
import fcntl
import mmap
import os
import secrets
import threading

from kernel.wire import shm
from kernel.wire.shm import SharedMemoryError

IDLE_MAX = 256 << 20
KEPT_MAX = 32
SPARE_MIN = 16 << 20
ZEROS_CHUNK = 4 << 20
WRITE_CHUNK = 1 << 30  # one pwrite moves at most about 2 GiB on Linux


class _Segment:
    """A file this process made: name, size, tickets out and, once reused, a mapping here."""

    def __init__(self, name, size, ready=True):
        self.name = name
        self.size = size
        self.ready = ready  # False while a spare's pages are being allocated
        self.kept = True  # False once retired: never written again
        self.mapping = None
        self.tickets = {}  # ticket name -> pid of the process meant to take it

    def idle(self):
        """Reusable now: ready, kept, no ticket out and no consumer holding the lock."""
        if not self.ready or not self.kept or self.tickets:
            return False
        try:
            fd = os.open(shm.path(self.name), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)

    def rewrite(self, view):
        """Copy ``view`` in; the first time, map the file here with its pages already in place."""
        if self.mapping is None:
            fd = os.open(shm.path(self.name), os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                self.mapping = mmap.mmap(fd, self.size, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)
            finally:
                os.close(fd)
        self.mapping[:] = view

    def retire(self):
        """No more reuse: the name goes; consumers keep what they mapped, tickets out stay valid."""
        self.kept = False
        if self.mapping is not None:
            self.mapping.close()
            self.mapping = None
        shm.remove([self.name])


_lock = threading.Lock()
_segments = []  # least recently written first


def _new_name():
    return f"kernel-{os.getpid()}-{shm.namespace_tag()}{secrets.token_hex(12)}"


def _new_segment(view):
    """A segment holding ``view``, written with ``pwrite``: a full /dev/shm is an error here, never a SIGBUS."""
    name = _new_name()
    try:
        fd = os.open(shm.path(name), os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise SharedMemoryError(f"cannot create the shared-memory segment {name} in {shm.SHM_DIR}: {e}") from None
    try:
        at = 0
        while at < view.nbytes:
            at += os.pwrite(fd, view[at:at + WRITE_CHUNK], at)
        return _Segment(name, view.nbytes)
    except OSError as e:
        shm.remove([name])
        raise SharedMemoryError(f"cannot fill the shared-memory segment {name} with {view.nbytes} bytes "
                                f"({e.strerror or e}): is {shm.SHM_DIR} full?") from None
    finally:
        os.close(fd)


def _allocate_spare(segment):
    """Give the spare ``segment`` its pages, then map them here; any failure (no room) just drops it.

    The pages are written (zeros, by ``pwrite``, which lets go of the GIL),
    not only reserved: a reserved page is cleared on first use, and that first
    touch is what costs on a VM.
    """
    mapping = None
    with _lock:  # made only while still kept: the exit's clean-up either sees the file or stops this
        try:
            fd = os.open(shm.path(segment.name), os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600) if segment.kept else None
        except OSError:
            fd = None
    if fd is not None:
        try:
            zeros = memoryview(bytes(min(segment.size, ZEROS_CHUNK)))
            for at in range(0, segment.size, len(zeros)):
                os.pwrite(fd, zeros[:segment.size - at], at)
            mapping = mmap.mmap(fd, segment.size, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)
        except OSError:
            pass
        finally:
            os.close(fd)
    with _lock:
        if mapping is not None and segment.kept:
            segment.mapping, segment.ready = mapping, True
            return
        segment.kept = False  # no room, or retired meanwhile (at exit, say): its file, if made, goes now
        shm.remove([segment.name])
        if segment in _segments:
            _segments.remove(segment)
    if mapping is not None:
        mapping.close()


def _add_spare(size):
    """Start allocating a spare segment of ``size`` bytes, unless the idle limit leaves no room for it."""
    if size < SPARE_MIN or 2 * size > IDLE_MAX:
        return
    spare = _Segment(_new_name(), size, ready=False)
    _segments.insert(0, spare)  # the first to go when the limits are reached
    threading.Thread(target=_allocate_spare, args=(spare,), name="kernel-shm-spare", daemon=True).start()


def _reuse(view):
    """The most recently written idle segment of the right size, now holding ``view``; or None."""
    for segment in reversed(_segments):
        if segment.size == view.nbytes and segment.idle():
            try:
                segment.rewrite(view)
            except OSError:
                segment.retire()
                continue
            _segments.remove(segment)
            return segment
    return None


def _reclaim():
    """Drop tickets taken or never to be taken (their consumer died); retire what is past the limits.

    Room for one is left, for the segment about to be written.
    """
    kept = idle_bytes = 0
    for segment in reversed(list(_segments)):
        for ticket, consumer in list(segment.tickets.items()):
            if not os.path.lexists(shm.path(ticket)) or not shm.alive(consumer):
                shm.remove([ticket])
                del segment.tickets[ticket]
        if segment.kept:
            kept += 1
            idle = segment.idle()
            idle_bytes += segment.size if idle else 0
            if kept >= KEPT_MAX or (idle and idle_bytes > IDLE_MAX):
                segment.retire()
        if not segment.kept and not segment.tickets:
            _segments.remove(segment)


def _hand_out(segment, consumers):
    tickets = []
    try:
        for consumer in consumers:
            tickets.append(_new_name())
            os.link(shm.path(segment.name), shm.path(tickets[-1]), follow_symlinks=False)
            segment.tickets[tickets[-1]] = consumer
    except OSError as e:
        shm.remove(tickets)
        for ticket in tickets:
            segment.tickets.pop(ticket, None)
        raise SharedMemoryError(f"cannot link shared-memory segment {segment.name} to {tickets[-1]}: {e}") from None
    return tickets


def create(data, consumers, spare=False):
    """Put ``data`` in a segment; return one ticket (a segment name) per consumer pid.

    With ``spare``, a new big segment gets a spare of its size (see above).
    """
    if not consumers:
        return []
    view = memoryview(data).cast("B")
    with _lock:
        _reclaim()
        segment = _reuse(view)
        if segment is None:
            segment = _new_segment(view)
            if spare:
                _add_spare(segment.size)
        _segments.append(segment)
        tickets = _hand_out(segment, consumers)
        if segment.size > IDLE_MAX:  # never kept idle: freed as soon as its consumers let go
            segment.retire()
        return tickets


def withdraw(tickets):
    """Remove tickets handed out (those already taken are gone: that is fine)."""
    shm.remove(tickets)
    with _lock:
        for segment in _segments:
            for ticket in tickets:
                segment.tickets.pop(ticket, None)


@atexit.register
def _remove_all():
    with _lock:
        for segment in _segments:
            shm.remove(list(segment.tickets))
            segment.retire()
        _segments.clear()


def _forget_after_fork():
    """A forked child leaves its parent's segments alone."""
    global _lock
    _lock = threading.Lock()
    _segments.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
