"""An engine's memory limit: stop user code that grows past it, and leave if it cannot shrink back.

``ipengine --memory-limit SIZE`` starts a :class:`MemoryWatch`. While a
command runs, a thread reads the engine's own resident memory (from
``/proc/self/statm``: about a microsecond) every ``PERIOD`` seconds. Past the
limit it interrupts the command through the engine's own interrupt (a
KeyboardInterrupt in user code), and the command fails with
:class:`MemoryLimitError`, naming the engine and the limit. After such a
command the engine collects garbage and gives freed memory back to the
system; if it is still past the limit (the namespace holds the memory), it
replies, then exits with ``EXIT_OVER_LIMIT``, and ipcluster starts a fresh
engine in its place. The same holds for a command that ended past the limit
before the thread saw it (``x = bytearray(4 * limit)``: one C call). Code that is still running ``GRACE`` seconds after the
interrupt, past the limit (it caught the KeyboardInterrupt, or it is stuck in
C code that does not check for signals), ends the engine at once.

Why no ``setrlimit``: RLIMIT_AS and RLIMIT_DATA bound address space, not
memory used. Measured here (Python 3.11, numpy): an engine with numpy
imported maps 176 MB for 54 MB resident; after a matrix product, 272 MB for
123 MB; four more threads add 295 MB of mappings and no resident memory
(glibc reserves 64 MB per thread's heap). A limit on address space fails
such engines long before they use the memory, and refuses memory maps of big
files outright. What no watch can catch is a single allocation that fills
the host in one C call: for that the engine asks the kernel's OOM killer to
choose it before other processes (``oom_score_adj`` ``OOM_SCORE_ADJ``), and
ipcluster restarts it.
"""

import ctypes
import gc
import os
import threading
import time
import traceback

from twisted.logger import Logger

from kernel.engine import replies
from kernel.errors import MemoryLimitError
from kernel.wire import tracebacks

PERIOD = 0.05  # seconds between looks at the resident size while a command runs
GRACE = 2.0  # seconds a command may run on past the limit after its interrupt
PARK_AFTER = 1.0  # seconds without a command before the watch sleeps until the next one
EXIT_OVER_LIMIT = 3  # the engine's exit status when it leaves to be restarted under its limit
OOM_SCORE_ADJ = 500  # 0 (the default) .. 1000: how much sooner the OOM killer picks an engine


def format_size(size):
    """``200 MB``, ``1.5 GB``: sizes as people write them in flags (1 MB = 10**6 bytes)."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.4g} {unit}"
    return f"{size} bytes"


class Resident:
    """This process's own resident memory in bytes: its resident pages less those backed by files.

    Mapped libraries, memory-mapped files (page cache the kernel can
    reclaim) and shared-memory segments on their way to a client are not
    the engine's to answer for. The file stays open: each look is one pread.
    """

    def __init__(self, path="/proc/self/statm"):
        self.fd = os.open(path, os.O_RDONLY)
        self.page = os.sysconf("SC_PAGE_SIZE")

    def __call__(self):
        fields = os.pread(self.fd, 128, 0).split()
        return (int(fields[1]) - int(fields[2])) * self.page


def give_back_memory():
    """Collect garbage and return the freed heap to the system (glibc's malloc_trim)."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: what free() returned is all there is


def prefer_for_oom_killer(adj=OOM_SCORE_ADJ, path="/proc/self/oom_score_adj"):
    """Ask the kernel to kill this engine before other processes if memory runs out."""
    try:
        with open(path, "r+") as f:
            if int(f.read()) < adj:
                f.seek(0)
                f.write(str(adj))
    except (OSError, ValueError):
        pass  # not Linux, or not allowed: the watch still works


class MemoryWatch:
    """Holds ``engine`` (an ``EngineCore``) to ``limit`` bytes while its commands run.

    The engine calls :meth:`begin` before each command and :meth:`end` with
    its reply; :meth:`check` is one look, run by the watch thread.
    """

    log = Logger()

    def __init__(self, engine, limit, resident=None, clock=time.monotonic, exit=os._exit,
                 period=PERIOD, grace=GRACE):
        self.engine = engine
        self.limit = limit
        self.resident = resident or Resident()
        self.clock = clock
        self.exit = exit
        self.period = period
        self.grace = grace
        self.running = False
        self.peak = None  # the largest size seen past the limit in this command
        self.interrupted_at = None
        self._last_command = clock()
        self._awake = threading.Event()  # set while commands come: the thread looks every period

    def start(self):
        self.log.info("memory limit {limit}: user code that grows the engine past it is stopped",
                      limit=format_size(self.limit))
        prefer_for_oom_killer()
        threading.Thread(target=self._watch, name="memory-watch", daemon=True).start()
        return self

    def _name(self):
        return f"engine {self.engine.interpreter.engine_id}"

    # -- the thread that runs commands --------------------------------------------------

    def begin(self):
        self.peak = self.interrupted_at = None
        self.running = True
        if not self._awake.is_set():
            self._awake.set()

    def end(self, header, reply, out):
        """The reply to send: a MemoryLimitError if the command went past the limit.

        One look here too (a microsecond), for a command that grew past the
        limit between two looks of the thread, or in one C call that held
        the GIL. The reply's pickled bytes are not counted: they go once it
        is sent (its other buffers are views of values the engine keeps).
        """
        self.running = False
        self._last_command = self.clock()
        reply_bytes = sum(len(b) for b in out if isinstance(b, (bytes, bytearray)))
        peak = self.peak
        if peak is None:
            peak = self.resident() - reply_bytes
            if peak <= self.limit:
                return reply, out
        give_back_memory()
        now = self.resident() - reply_bytes
        peak = max(peak, now)
        grew = f"{self._name()} grew to {format_size(peak)}, past its memory limit of {format_size(self.limit)}"
        if now > self.limit:
            message = (f"{grew}, and is still at {format_size(now)} after the command: it restarts, "
                       "and its namespace is lost")
            self.log.error("{message}", message=message)
            self.engine.on_stopped(message)
            self.engine.exit_code = EXIT_OVER_LIMIT
            return _failure(header, reply, MemoryLimitError(message))
        if reply.get("status") == "error" and reply.get("etype") == "KeyboardInterrupt":
            message = f"{grew}: the command was stopped"
            self.log.warn("{message}", message=message)
            return _failure(header, reply, MemoryLimitError(message))
        self.log.warn("{grew}; the command ended before it was stopped, and the engine is back under "
                      "the limit", grew=grew)
        return reply, out

    # -- the watch thread ---------------------------------------------------------------

    def check(self):
        """Look once: interrupt a command past the limit, end the engine if it runs on past it."""
        size = self.resident()
        if size <= self.limit or not self.running:
            return
        self.peak = max(size, self.peak or 0)
        now = self.clock()
        if self.interrupted_at is None:
            self.interrupted_at = now
            self.log.warn("{name} is at {size}, past its memory limit of {limit}: interrupting the command",
                          name=self._name(), size=format_size(size), limit=format_size(self.limit))
        elif now - self.interrupted_at > self.grace:
            self.log.critical("{name} is at {size}, past its memory limit of {limit}, {grace:g} s after "
                              "interrupting the command: exiting, to be restarted", name=self._name(),
                              size=format_size(size), limit=format_size(self.limit), grace=self.grace)
            self.exit(EXIT_OVER_LIMIT)
            return
        self.engine.interrupt()  # again while past the limit: the code may have caught the last one

    def _watch(self):
        """Look every period while commands come; sleep once none has run for PARK_AFTER s."""
        while True:
            self._awake.wait()
            time.sleep(self.period)
            try:
                self.check()
            except Exception:
                self.log.failure("the memory watch failed")
            if not self.running and self.clock() - self._last_command > PARK_AFTER:
                self._awake.clear()
                if self.running:  # a command began meanwhile: stay awake for it
                    self._awake.set()


def _failure(header, reply, exc):
    """``reply`` turned into ``exc``'s failure; where the code was stopped stays in the traceback."""
    timing = {key: reply[key] for key in ("started", "finished") if key in reply}
    new, out = replies.failure(header, exc, **timing)
    stack = reply.get("stack") if reply.get("etype") == "KeyboardInterrupt" else None
    if stack:
        new["stack"] = [*stack[:-1], {**stack[-1], "error": traceback.format_exception_only(type(exc), exc)}]
        new["traceback"] = tracebacks.render(new["stack"])
    return new, out
