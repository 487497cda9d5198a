"""The client's connection to the controller: a blocking TLS socket.

Clients are synchronous by nature, so there is no reactor thread to hop
through: a call writes one frame and reads until its reply arrives. Replies to
other outstanding (non-blocking) requests that arrive meanwhile are kept by
request id. A dropped connection raises ConnectionLost for the calls in flight;
the next call reconnects.

While futures are pending, a reader thread reads instead (``kernel.client.reader``)
and a call waits on ``_arrived`` until the thread has filed its reply.
"""

import itertools
import os
import select
import socket
import ssl
import threading
import time
from collections import deque

from kernel import errors, paths, versions
from kernel import furl as furls
from kernel.client.reader import Reader
from kernel.tls import connect_pinned
from kernel.wire import framing, messages
from kernel.wire.greeting import greeting, welcomed

CONNECT_TIMEOUT = 10.0
RECV_SIZE = 1 << 16  # a TLS read returns at most one record (16 KiB) anyway


def _keepalive(sock):
    """Notice a vanished controller host within about 25 s, even when idle."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


# Seconds a wait with no timeout blocks at most before Python looks at signals again: a Ctrl-C that lands
# between the interpreter's last look and a blocking read would otherwise wait for the next byte to come.
SIGNAL_LOOK = 1.0


def _readable_within(sock, timeout):
    """Whether ``sock`` has bytes to read within ``timeout`` seconds.

    ``poll``, not ``select``: a process may hold more than 1,024 files.
    """
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(None if timeout is None else timeout * 1000))


_DEFAULT_FILES = {"mec": ("multiengine", paths.MEC_FURL), "tc": ("task", paths.TC_FURL)}


def default_furl_file(name):
    """The path of the FURL file ``name`` in the security directory ($IPYTHONDIR or ~/.ipython)."""
    return str(paths.security_dir(paths.ipython_dir()) / name)


def furl_or_default(furl_or_file, interface):
    """``furl_or_file``; if empty, the path of ``interface``'s FURL file, which must exist."""
    if furl_or_file:
        return furl_or_file
    words, name = _DEFAULT_FILES[interface]
    path = default_furl_file(name)
    if not os.path.exists(path):
        raise errors.BadFURLError(
            f"no {words} FURL file at {path}: is ipcontroller running with this IPython "
            f"directory ($IPYTHONDIR or --ipythondir)? Otherwise pass the FURL or the path of {name}")
    return path


def remote_error(header):
    """The exception for a controller-side ``error`` reply."""
    return errors.by_name(header.get("etype"))(header.get("message", "the controller reported an error"))


class Connection:
    def __init__(self, furl_or_file, interface, connect_timeout=CONNECT_TIMEOUT):
        self.furl = furls.load(furl_or_file)
        # from a file, the FURL is read again on every reconnect: a controller that
        # restarted on new ports (and new swissnums) is found again
        self._furl_file = furl_or_file if isinstance(furl_or_file, str) and not \
            furl_or_file.strip().startswith("pb://") else None
        self.interface = interface
        self.connect_timeout = connect_timeout
        self.peer_versions = {}  # the controller's, as it told them when this connection was (re)opened
        self._sock = None
        self._decoder = None
        self._decoded = deque()
        self._ready = {}
        self._waiting = set()
        self._rids = itertools.count(1)
        self._lock = threading.RLock()
        self._arrived = threading.Condition(self._lock)  # the reader thread filed replies
        self._reader = None  # the Reader, once a future was watched
        self.output_sinks = {}  # rid -> feed(header, buffers): a streamed call's output (kernel.client.streaming)
        self._loss = ""  # why the connection last dropped
        self._inbox = memoryview(bytearray(RECV_SIZE))  # reused: the decoder copies what it keeps
        self.generation = 0  # how many times this connection was (re)opened
        self.connect()

    def connect(self):
        if self._furl_file is not None and self._sock is None and self._decoder is not None:
            try:
                self.furl = furls.load(self._furl_file)
            except errors.BadFURLError:
                pass  # being rewritten, or gone: try the last good one
        sock = connect_pinned(self.furl.hints, self.furl.tubid, self.connect_timeout)
        _keepalive(sock)
        self._sock = sock
        self.generation += 1
        self._decoder = framing.FrameDecoder()
        self._decoded = deque()
        sock.sendall(greeting(self.furl.swissnum))
        header, _ = self._next_frame(self.connect_timeout)
        try:
            theirs = welcomed(header, self.interface, self._furl_file)
        except errors.CapabilityRefused:
            self._close_socket()
            raise
        sock.settimeout(None)
        self.peer_versions = theirs
        if self._reader is not None:
            self._reader.wake()  # to read the new socket
        if self.generation == 1:
            versions.warn_of_mismatch(theirs, "the controller", stacklevel=5)

    @property
    def connected(self):
        return self._sock is not None

    @property
    def source(self):
        """What this connection was made from: its FURL file (read again on each reconnect), else its FURL."""
        return self._furl_file if self._furl_file is not None else str(self.furl)

    def if_idle(self, work):
        """Call ``work()`` holding the connection, unless a call is using it now; whether it ran."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            work()
        finally:
            self._lock.release()
        return True

    def close(self):
        """Close the socket; pending futures fail (a later call reconnects)."""
        with self._lock:
            self._close_socket()
            if self._reader is not None:
                self._loss = "the client closed its connection"
                self._reader.note_lost(errors.ConnectionLost(self._loss), closed=True)

    def _close_socket(self):
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def watch(self, future):
        """Complete ``future`` (see ``kernel.client.reader``) once the replies to its requests are in."""
        with self._lock:
            if self._reader is None:
                self._reader = Reader(self)
            self._reader.add(future)

    def poll(self, future):
        """Read what has arrived; a watched ``future``'s ``(replies, error)`` if all are in (else None)."""
        with self._lock:
            if self._sock is not None:
                self.drain()
            return self._reader.take(future) if self._reader is not None else None

    # -- requests -----------------------------------------------------------------

    def request(self, header, buffers=(), sent=None):
        """Send a request; return its id (the reply is fetched with ``wait``). ``sent``, a list,
        is given the id before the request goes out, so a Ctrl-C that interrupts this call
        after sending leaves its caller knowing the id."""
        with self._lock:
            if self._sock is not None and not self._waiting and self._closed_by_peer():
                self._close_socket()  # nothing was in flight: reconnecting loses nothing
            if self._sock is None:
                self._ready.clear()
                self._waiting.clear()
                try:
                    self.connect()
                except OSError as e:
                    raise errors.ConnectionLost(
                        f"lost the connection to the controller and cannot reconnect: {e}") from None
            rid = next(self._rids)
            header["rid"] = rid
            self._waiting.add(rid)
            if sent is not None:
                sent.append(rid)
            try:
                for part in framing.encode(header, buffers):
                    self._sock.sendall(part)
            except OSError as e:
                self._lost(e)
            return rid

    def _closed_by_peer(self):
        """Whether the controller closed the idle connection (it restarted, say)."""
        if self._sock.pending() or not _readable_within(self._sock, 0):
            return False
        self._sock.setblocking(False)
        try:
            data = self._inbox[:self._sock.recv_into(self._inbox)]
        except (ssl.SSLWantReadError, BlockingIOError):
            return False
        except OSError:
            return True
        finally:
            if self._sock is not None:
                self._sock.setblocking(True)
        if not data:
            return True
        self._decoded.extend(self._decoder.feed(data))  # a late reply nobody waits for
        return False

    def call(self, header, buffers=(), timeout=None):
        return self.wait(self.request(header, buffers), timeout)

    def wait(self, rid, timeout=None):
        """Block until the reply to ``rid`` arrives; raise its error if it is one."""
        with self._lock:
            deadline = None if timeout is None else time.monotonic() + timeout
            losses = self._reader.losses if self._reader is not None else 0
            while rid not in self._ready:
                if rid not in self._waiting:
                    if self._reader is not None and self._reader.losses != losses:
                        raise errors.ConnectionLost(self._loss)  # dropped while the reader read for us
                    raise errors.ResultAlreadyRetrieved(f"no outstanding request {rid}")
                if self._reader is not None and self._reader.serving():
                    self._wait_for_reader(deadline, timeout)
                else:
                    self._read(timeout)
            self._waiting.discard(rid)
            reply = self._ready.pop(rid)
        return self.answer_of(reply)

    @staticmethod
    def answer_of(reply):
        """``reply`` itself, or the error it reports raised."""
        if reply[0]["op"] == messages.Error.op:
            raise remote_error(reply[0])
        return reply

    def _wait_for_reader(self, deadline, timeout):
        """Wait (the lock released) until the reader thread files something, or the deadline."""
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise errors.ControllerTimeout(f"no answer from the controller within {timeout:g} s")
        self._reader.waiters += 1
        try:
            self._arrived.wait(remaining)
        finally:
            self._reader.waiters -= 1

    def ready(self, rid):
        """Read what has arrived without blocking; True once ``rid`` is answered."""
        with self._lock:
            while rid not in self._ready and self._sock is not None and self._readable():
                self._read(None)
            if self._reader is not None and self._reader.serving() and self._sock is not None \
                    and self._readable():
                self._reader.wake()  # what this call left unread is the reader's
            return rid in self._ready

    def drain(self):
        """Take in every reply that has arrived, so none waits in the controller's buffers."""
        self.ready(None)

    def outstanding(self, rid):
        """True while the reply to ``rid`` is expected or kept, i.e. not yet fetched or forgotten."""
        return rid in self._waiting or rid in self._ready

    def forget(self, rids):
        """Drop these requests' replies: kept ones now, later ones when they arrive.

        Without the lock (as a dropped PendingResult's finalizer calls it, on
        whichever thread collects it), but for the requests futures wait for:
        those are never collected, so only a call (``flush``) forgets them.
        """
        for rid in rids:
            self._waiting.discard(rid)
            self._ready.pop(rid, None)
        reader = self._reader
        if reader is not None and any(rid in reader.futures for rid in rids):
            with self._lock:
                for rid in rids:
                    reader.claim(rid, errors.ResultAlreadyRetrieved(f"request {rid} was flushed"))

    def forget_all(self):
        with self._lock:
            self.forget(list(self._waiting | set(self._ready)))

    def _readable(self):
        return bool(self._decoded) or self._sock.pending() > 0 or _readable_within(self._sock, 0)

    # -- reading --------------------------------------------------------------------

    def _read(self, timeout):
        header, buffers = self._next_frame(timeout)
        if header["op"] == messages.Output.op:  # printed by a call that still runs: not its answer
            sink = self.output_sinks.get(header.get("rid"))
            if sink is not None:
                sink(header, buffers)
            return
        for rid in header.get("rids") or [header.get("rid")]:  # one frame may answer several requests
            if rid in self._waiting and not (self._reader is not None and self._reader.claim(rid, (header, buffers))):
                self._ready[rid] = (header, buffers)

    def _next_frame(self, timeout):
        """The next frame from the controller, checked against its declaration (about 0.6 µs)."""
        while True:
            if self._decoded:
                frame = self._decoded.popleft()
                try:
                    messages.TO_CLIENT.decode(frame[0])
                except errors.ProtocolError as e:
                    self._lost(f"a message from the controller breaks the protocol: {e}")
                return frame
            if self._sock is None:
                raise errors.ConnectionLost("not connected to the controller")
            if not self._sock.pending():
                if timeout is not None:
                    if not _readable_within(self._sock, timeout):
                        raise errors.ControllerTimeout(f"no answer from the controller within {timeout:g} s")
                else:
                    while not _readable_within(self._sock, SIGNAL_LOOK):
                        pass  # back in Python: a Ctrl-C that came just before the wait is raised here
            target = self._decoder.get_buffer()  # a big buffer is decrypted straight into place
            try:
                got = self._sock.recv_into(self._inbox if target is None else target)
            except OSError as e:
                self._lost(e)
            if not got:
                self._lost("the controller closed the connection")
            try:
                if target is None:
                    self._decoded.extend(self._decoder.feed(self._inbox[:got]))
                else:
                    self._decoded.extend(self._decoder.buffer_updated(got))
            except errors.ProtocolError as e:
                self._lost(f"garbled data from the controller: {e}")

    def _lost(self, why):
        self._close_socket()
        self._decoded = deque()
        waiting = len(self._waiting)
        self._waiting.clear()
        self._loss = (f"lost the connection to the controller ({why}); "
                      f"{waiting} request(s) in flight are lost — repeat the call to reconnect")
        error = errors.ConnectionLost(self._loss)
        if self._reader is not None:
            self._reader.note_lost(error)
        raise error
