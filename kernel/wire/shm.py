"""Shared-memory segments: big buffers handed between processes of one host.

A segment is a file in ``/dev/shm`` (a tmpfs: memory, never disk), mode 0600,
named ``kernel-<creator pid>-<32 hex>``; the hex digits are a tag of the
creator's pid namespace, then 96 random bits. Its creator
(``kernel.wire.shmpool``) hands each consumer a *ticket*: a hard link with a
name of its own. ``attach`` opens a ticket, takes a shared lock (``flock``),
maps the file privately (copy-on-write: changing the array changes no one
else's copy) and unlinks the ticket. The mapping keeps a duplicate of the
descriptor, so the lock lasts exactly as long as the consumer's arrays do,
and the creator knows when it may write into the segment again.

Two processes use segments with each other only when their ``host_key()``
values are equal: same boot of the same machine, same ``/dev/shm``, same uid
and same pid namespace (so a pid means the same process to both).
``sweep()`` removes what creators killed with SIGKILL left behind.
"""

import errno
import fcntl
import functools
import hashlib
import mmap
import os
import re
import resource
import stat
import weakref

from kernel.errors import KernelError
from kernel.proctable import pid_alive
from kernel.values import is_int

SHM_DIR = "/dev/shm"
NAME = re.compile(r"kernel-(?P<pid>[1-9][0-9]{0,9})-(?P<tag>[0-9a-f]{8})[0-9a-f]{24}")


class SharedMemoryError(KernelError):
    """A shared-memory segment cannot be made, opened or mapped; the message names it and why."""


_disabled = False
_key = None
_mapped = weakref.WeakSet()  # this process's mappings of segments, each holding a descriptor


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return None


def _namespace():
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


@functools.cache
def namespace_tag():
    """The first 8 hex digits of this process's segment names: its pid namespace."""
    return hashlib.sha256(_namespace().encode()).hexdigest()[:8]


def _is_tmpfs(directory):
    """Whether the last mount on ``directory`` is a tmpfs, from /proc/self/mountinfo."""
    fstype = None
    for line in (_read("/proc/self/mountinfo") or "").splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] == directory and " - " in line:
            fstype = line.split(" - ", 1)[1].split()[0]
    return fstype == "tmpfs"


def _compute_key():
    boot_id = _read("/proc/sys/kernel/random/boot_id")
    if not boot_id or not _is_tmpfs(SHM_DIR) or not os.access(SHM_DIR, os.W_OK | os.X_OK):
        return None
    try:
        where = os.stat(SHM_DIR)
    except OSError:
        return None
    if not stat.S_ISDIR(where.st_mode):
        return None
    identity = "\0".join([boot_id, str(where.st_dev), str(where.st_ino), str(os.getuid()), _namespace()])
    return hashlib.sha256(identity.encode()).hexdigest()


def host_key():
    """What another process must share with this one to use its segments, or None when none may.

    None when ``/dev/shm`` is not a writable tmpfs directory (not Linux, say)
    or after ``disable()``.
    """
    global _key
    if _disabled:
        return None
    if _key is None:
        _key = _compute_key() or ""
    return _key or None


def disable():
    """This process neither offers nor asks for segments from now on (``ipengine --no-shared-memory``)."""
    global _disabled
    _disabled = True


def is_pid(value):
    return is_int(value) and value > 0


def alive(pid):
    """Whether process ``pid`` runs; anything but one pid counts as alive (never a reason to remove)."""
    return not is_pid(pid) or pid_alive(pid)


def path(name):
    return os.path.join(SHM_DIR, name)


def remove(names):
    """Unlink these segment names; one already gone is fine."""
    for name in names:
        try:
            os.unlink(path(name))
        except FileNotFoundError:
            pass


def check(name, size):
    """Refuse anything but a segment name (no paths, no other files) and a positive size."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise SharedMemoryError(f"{str(name)[:80]!r} is not a shared-memory segment name "
                                "(kernel-<pid>-<32 hex digits>)")
    if not is_int(size) or size <= 0:
        raise SharedMemoryError(f"shared-memory segment {name}: bad size {size!r} (a positive int)")


def _open(name):
    try:
        return os.open(path(name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise SharedMemoryError(
            f"shared-memory segment {name} does not exist: it was already removed (its sender "
            "exited or gave up on it), or the sender is not on this host") from None
    except OSError as e:
        why = "it is a symbolic link" if e.errno == errno.ELOOP else e.strerror
        raise SharedMemoryError(f"cannot open shared-memory segment {name}: {why}") from None


def _check_open(fd, name, size):
    """A regular file of this uid and of the announced size, still under its name, locked shared."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise SharedMemoryError(f"shared-memory segment {name} is not a regular file")
    if info.st_uid != os.getuid():
        raise SharedMemoryError(f"shared-memory segment {name} belongs to uid {info.st_uid}, "
                                f"not to this process's uid {os.getuid()}")
    if info.st_size != size:
        raise SharedMemoryError(f"shared-memory segment {name} has {info.st_size} bytes, not the {size} announced")
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        still = os.stat(path(name), follow_symlinks=False)
    except OSError:
        still = None
    if still is None or (still.st_dev, still.st_ino) != (info.st_dev, info.st_ino):
        raise SharedMemoryError(f"shared-memory segment {name} was withdrawn by its sender while being opened")


def mapping_budget():
    """How many segments this process keeps mapped (a descriptor each) before it copies instead."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 4096 if soft == resource.RLIM_INFINITY else soft // 4


def _copy(fd, size):
    """The segment's bytes in private memory (past the mapping budget)."""
    memory = mmap.mmap(-1, size)
    view = memoryview(memory)
    at = 0
    while at < size:
        read = os.preadv(fd, [view[at:]], at)
        if not read:
            raise SharedMemoryError(f"shared-memory segment ended after {at} of {size} bytes")
        at += read
    view.release()
    return memory


def attach(name, size):
    """The ``size`` bytes of the segment of ticket ``name``, mapped copy-on-write; the ticket is unlinked.

    Only a regular file of this uid and of exactly that size is used; a
    symbolic link, a missing ticket or a wrong size is a SharedMemoryError.
    Past ``mapping_budget()`` live mappings the bytes are copied instead, so
    that holding many arrays never exhausts the process's descriptors.
    """
    check(name, size)
    fd = _open(name)
    try:
        _check_open(fd, name, size)
        if len(_mapped) >= mapping_budget():
            memory = _copy(fd, size)
        else:
            try:
                memory = mmap.mmap(fd, size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
            except OSError as e:
                raise SharedMemoryError(f"cannot map shared-memory segment {name} ({size} bytes): {e}") from None
            _mapped.add(memory)
    finally:
        os.close(fd)  # a mapping's own duplicate keeps the lock
    remove([name])
    return memory


def sweep():
    """Remove segments of this uid and pid namespace whose creator is no longer running."""
    if host_key() is None:
        return
    tag, uid = namespace_tag(), os.getuid()
    try:
        entries = list(os.scandir(SHM_DIR))
    except OSError:
        return
    for entry in entries:
        match = NAME.fullmatch(entry.name)
        if match is None or match["tag"] != tag or alive(int(match["pid"])):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and info.st_uid == uid:
            remove([entry.name])
