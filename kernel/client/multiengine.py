"""MultiEngineClient: address each engine by id, blocking or not.

Every method takes ``targets=None, block=None`` overriding the instance's
``targets`` ('all', an int, or a list of ints) and ``block`` for that call.
Results are always a list with one entry per target, in target order; a
failure on any engine raises CompositeError.
"""

import ast
import atexit
import inspect
import linecache
import os
import sys
import textwrap
import timeit

import numpy

from kernel import config, paths, versions
from kernel.client import maps
from kernel.client.connection import Connection
from kernel.client.progress import progress_bar
from kernel.client.remote import collect
from kernel.client.results import PendingResult, ResultList, done
from kernel.client.samehost import SameHost
from kernel.errors import (BadFURLError, MissingBlockArgument, NotAPendingResult, SerializationError,
                           StopLocalExecution)
from kernel.wire import framing, serialize, shm, shmpool


_UNDELIVERED = set()  # non-blocking calls whose shared-memory segments engines may still need


def _undelivered(pending):
    """Keep ``pending`` until answered; at exit, wait for it before the segments go.

    The exit handler is registered with the first one: after ``shmpool``'s
    (which removes the segments) and after the one ``weakref.finalize`` uses
    (which would forget the PendingResult's requests), so it runs before both.
    """
    global _waiting_at_exit
    if not _waiting_at_exit:
        atexit.register(_let_engines_take_their_segments)
        _waiting_at_exit = True
    _UNDELIVERED.add(pending)


_waiting_at_exit = False


def _let_engines_take_their_segments():
    """A script that ends right after ``push(..., block=False)`` still delivers it."""
    for pending in list(_UNDELIVERED):
        try:
            pending.get_result(block=True)
        except Exception:
            pass  # the push failed or the controller is gone: nothing left to wait for


def remote():
    """First statement of a ``with mec:`` block: the rest runs on the engines, not here."""
    raise StopLocalExecution("this block runs on the engines")


def default_furl_file(name):
    return str(paths.security_dir(paths.ipython_dir()) / name)


def _is_int(t):
    return isinstance(t, int) and not isinstance(t, bool)


def _check_targets(targets):
    if targets == "all" or _is_int(targets):
        return targets
    if isinstance(targets, (list, tuple)) and all(_is_int(t) for t in targets):
        return list(targets)
    raise ValueError(f"targets must be a str, list, tuple or int: 'all', an engine id or a list "
                     f"of engine ids, not {targets!r}")


def _check_keys(keys, method):
    if isinstance(keys, str):
        return keys
    if isinstance(keys, (list, tuple)) and all(isinstance(k, str) for k in keys):
        return list(keys)
    raise TypeError(f"{method}: keys must be a str or a list/tuple of str, not {keys!r}")


def dumps_named(values, method):
    """Serialize a dict of named values; a value that cannot be pickled is named in the error."""
    if not isinstance(values, dict):
        raise TypeError(f"{method} takes a dict, not {type(values).__name__}")
    for key in values:
        if not isinstance(key, str):
            raise TypeError(f"{method}: the keys must be names (str), not {key!r}")
    try:
        return serialize.dumps(values)
    except Exception as whole:
        for key, value in values.items():
            try:
                serialize.dumps(value)
            except Exception as e:
                raise SerializationError(
                    f"{method}: cannot send {key!r}: a {type(value).__name__} object "
                    f"cannot be pickled ({type(e).__name__}: {e})") from e
        raise SerializationError(f"{method}: cannot pickle the values: {whole}") from whole


def _values(reply, method):
    header, buffers = reply
    entries = header["results"]
    return collect(entries, framing.split([e["n"] for e in entries], buffers), method)


def _flat(groups):
    return [piece for group in groups for piece in group]


class MultiEngineClient:
    """The multiengine interface of a controller.

    ``furl_or_file`` is a ``pb://`` FURL, or a file holding one; empty means
    ``ipcontroller-mec.furl`` in the security directory.

    Arrays of 1 MiB and more pushed to or pulled from engines on this host
    go through shared memory (``/dev/shm``) instead of the socket;
    ``shared_memory=False``, or ``shared_memory = false`` in the ``[client]``
    table of ``$IPYTHONDIR/kernel.toml`` (``KERNEL_CLIENT_SHARED_MEMORY=0``),
    turns that off.
    """

    def __init__(self, furl_or_file="", connect_timeout=10.0, shared_memory=True):
        settings = config.load(paths.ipython_dir(), "client")
        if not furl_or_file:
            furl_or_file = default_furl_file(paths.MEC_FURL)
            if not os.path.exists(furl_or_file):
                raise BadFURLError(
                    f"no multiengine FURL file at {furl_or_file}: is ipcontroller running with "
                    "this IPython directory ($IPYTHONDIR or --ipythondir)? Otherwise pass the "
                    "FURL or the path of ipcontroller-mec.furl")
        self._connection = Connection(furl_or_file, "mec", connect_timeout)
        self._same_host = SameHost(self._connection, shared_memory and settings.shared_memory)
        if self._same_host.key is not None:
            shm.sweep()
        self.targets = "all"
        self.block = True

    # -- plumbing ---------------------------------------------------------------

    def _resolve(self, targets, block):
        targets = _check_targets(self.targets if targets is None else targets)
        block = self.block if block is None else block
        if block is None:
            raise MissingBlockArgument("'block' keyword argument is missing: pass block=True or "
                                       "block=False, or set the client's block attribute")
        if block not in (True, False):
            raise ValueError(f"block must be True or False, not {block!r}")
        return targets, bool(block)

    def _submit(self, requests, block, finish):
        """Send ``[(header, buffers), ...]``; wait for ``finish(replies)`` or return a PendingResult."""
        rids = [self._connection.request(header, buffers) for header, buffers in requests]
        pending = PendingResult(self, rids, finish)
        if block:
            return pending.get_result()
        self._connection.drain()  # replies that have arrived leave the controller's buffers
        return pending

    def _call_header(self, method, targets, args=None, per_target=None):
        header = {"op": "call", "method": method, "targets": targets}
        if args:
            header["args"] = args
        if per_target is not None:
            header["per_target"] = per_target
        return header

    def _fanout(self, method, args=None, buffers=(), targets=None, block=None,
                per_target=None, after=None, empty=None, segments=()):
        """Call ``method`` on each target; ``after`` post-processes the value list.

        ``segments`` are the shared-memory tickets the call hands out: each
        engine removes its own once it has mapped it, and whatever is left (an
        engine failed first) is removed when the reply is in.
        """
        targets, block = self._resolve(targets, block)
        if isinstance(targets, list) and not targets:
            value = [] if empty is None else empty
            return value if block else done(self, value)
        header = self._call_header(method, targets, args, per_target)

        undelivered = []

        def finish(replies):
            _UNDELIVERED.difference_update(undelivered)
            try:
                values = _values(replies[0], method)
            finally:
                shmpool.withdraw(segments)
            return after(values) if after else values

        try:
            result = self._submit([(header, buffers)], block, finish)
        except Exception:  # the call is lost: no engine will take its segments
            shmpool.withdraw(segments)
            raise
        if segments and not block:
            undelivered.append(result)
            _undelivered(result)
        return result

    def _simple(self, op, targets=None, block=None, convert=None):
        targets, block = self._resolve(targets, block)

        def finish(replies):
            value = replies[0][0]["value"]
            return convert(value) if convert else value

        return self._submit([({"op": op, "targets": targets}, ())], block, finish)

    def _target_list(self, targets):
        targets = _check_targets(self.targets if targets is None else targets)
        if targets == "all":
            return self._ids_or_raise()
        return [targets] if _is_int(targets) else targets

    def _ids_or_raise(self):
        ids = self.get_ids()
        if not ids:  # let the controller say it, with its hint
            self._fanout("keys", targets="all", block=True)
        return ids

    # -- core methods -----------------------------------------------------------

    def get_ids(self):
        """The ids of the registered engines (always blocking)."""
        header, _ = self._connection.call({"op": "get_ids"})
        return header["value"]

    def get_versions(self):
        """``{engine id: {'kernel', 'python', 'cloudpickle': version}}`` (always blocking).

        Warns (``VersionMismatchWarning``) of each engine whose Python minor
        version or cloudpickle major version differs from this client's.
        """
        header, _ = self._connection.call({"op": "engine_info"})
        found = {engine["id"]: engine.get("versions") or {} for engine in header["value"]["engines"]}
        for eid, theirs in found.items():
            versions.warn_of_mismatch(theirs, f"engine {eid}")
        return found

    def execute(self, lines, targets=None, block=None):
        """Run the code string ``lines`` on each engine; return a ResultList."""
        if not isinstance(lines, str):
            raise TypeError(f"execute takes a string of Python code, not {type(lines).__name__}")
        return self._fanout("execute", {"code": lines}, targets=targets, block=block,
                            after=ResultList, empty=ResultList())

    def run(self, filename, targets=None, block=None):
        """Compile a local file here (a SyntaxError is raised locally), then execute it."""
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(f"run takes the name of a file, not {type(filename).__name__}")
        with open(filename, encoding="utf-8") as f:
            source = f.read()
        compile(source, filename, "exec")
        return self.execute(source, targets=targets, block=block)

    def push(self, namespace, targets=None, block=None):
        """Update each engine's namespace with the dict ``namespace``; ``[None, ...]``."""
        pieces = dumps_named(namespace, "push")
        targets, _ = self._resolve(targets, block)
        if self._may_share([pieces]):
            ids, pids = self._same_host.engines(targets)
            if ids and None not in pids:  # one segment, one hard link per engine
                copies, segments = serialize.share(pieces, pids, spare=True)
                if segments:
                    return self._fanout("push", buffers=_flat(copies), targets=ids, block=block,
                                        per_target=[len(c) for c in copies], segments=segments)
        return self._fanout("push", buffers=pieces, targets=targets, block=block)

    def _may_share(self, groups):
        """Whether asking which engines share this host could pay: shared memory is on and a buffer is big."""
        return self._same_host.key is not None and any(serialize.has_big_buffers(g) for g in groups)

    def pull(self, keys, targets=None, block=None):
        """Fetch names from each engine: one value per engine, or a list of values for several keys."""
        args = self._same_host.pull_args({"keys": _check_keys(keys, "pull")})
        return self._fanout("pull", args, targets=targets, block=block)

    def push_function(self, namespace, targets=None, block=None):
        """Push functions (the legacy name; closures and defaults travel too)."""
        if not isinstance(namespace, dict):
            raise TypeError(f"push_function takes a dict, not {type(namespace).__name__}")
        for name, value in namespace.items():
            if not callable(value):
                raise TypeError(f"function object expected for {name!r}, not {type(value).__name__}")
        return self.push(namespace, targets=targets, block=block)

    def pull_function(self, keys, targets=None, block=None):
        """Fetch functions by name (the legacy name for pull)."""
        return self.pull(keys, targets=targets, block=block)

    def push_serialized(self, namespace, targets=None, block=None):
        """The legacy name for push: numpy arrays always move as raw buffers."""
        return self.push(namespace, targets=targets, block=block)

    def pull_serialized(self, keys, targets=None, block=None):
        """The legacy name for pull."""
        return self.pull(keys, targets=targets, block=block)

    def get_result(self, i=None, targets=None, block=None):
        """The result dict of command number ``i`` (default: the latest) on each target."""
        if i is not None and not _is_int(i):
            raise TypeError(f"get_result takes a command number (int) or None, not {i!r}")
        return self._fanout("get_result", {"i": i}, targets=targets, block=block,
                            after=ResultList, empty=ResultList())

    def reset(self, targets=None, block=None):
        """Empty each engine's namespace (keeping ``id`` and ``mpi``), history and properties."""
        return self._fanout("reset", targets=targets, block=block)

    def keys(self, targets=None, block=None):
        """The names defined in each engine's namespace."""
        return self._fanout("keys", targets=targets, block=block)

    def kill(self, controller=False, targets=None, block=None):
        """Stop the engines; with ``controller=True`` every engine and then the controller."""
        return self._fanout("kill", {"controller": bool(controller)}, targets=targets, block=block)

    def interrupt(self, targets=None, block=None):
        """Raise KeyboardInterrupt in the code each engine is running now; the engines live on."""
        return self._simple("interrupt", targets, block)

    def clear_queue(self, targets=None, block=None):
        """Fail the queued (not yet running) commands with QueueCleared."""
        return self._simple("clear_queue", targets, block)

    def queue_status(self, targets=None, block=None):
        """``[(id, {'queue': [...], 'pending': ...}), ...]``, shown as a table."""
        return self._simple("queue_status", targets, block,
                            lambda value: QueueStatus(tuple(item) for item in value))

    # -- properties ----------------------------------------------------------------

    def set_properties(self, properties, targets=None, block=None):
        """Update each engine's properties (a dict of picklable values)."""
        return self._fanout("set_properties", buffers=dumps_named(properties, "set_properties"),
                            targets=targets, block=block)

    def get_properties(self, keys=None, targets=None, block=None):
        """A dict of properties per engine (all of them when ``keys`` is None)."""
        if keys is not None:
            keys = _check_keys(keys, "get_properties")
        return self._fanout("get_properties", {"keys": keys}, targets=targets, block=block)

    def has_properties(self, keys, targets=None, block=None):
        """``[[bool, ...], ...]``: whether each engine has each key."""
        return self._fanout("has_properties", {"keys": _check_keys(keys, "has_properties")},
                            targets=targets, block=block)

    def del_properties(self, keys, targets=None, block=None):
        return self._fanout("del_properties", {"keys": _check_keys(keys, "del_properties")},
                            targets=targets, block=block)

    def clear_properties(self, targets=None, block=None):
        return self._fanout("clear_properties", targets=targets, block=block)

    # -- scatter, gather and map -----------------------------------------------------

    def scatter(self, key, seq, dist="b", flatten=False, targets=None, block=None):
        """Partition ``seq`` into contiguous blocks and push one block to each target as ``key``.

        With ``flatten=True`` a block of one item is pushed as the item itself.
        """
        if not isinstance(key, str):
            raise TypeError(f"scatter: key must be a str, not {key!r}")
        split, _ = maps.distribution(dist)
        seq = maps.as_sequence(seq)
        ids = self._target_list(targets)
        blocks = []
        for p in range(len(ids)):
            part = split(seq, p, len(ids))
            if flatten and len(part) == 1:
                part = part[0]
            blocks.append(dumps_named({key: part}, "scatter"))
        segments = []
        if self._may_share(blocks):  # each block on its own: engines elsewhere get theirs inline
            _, pids = self._same_host.engines(ids)
            for p, pid in enumerate(pids):
                if pid is not None:
                    copies, made = serialize.share(blocks[p], [pid], spare=True)
                    blocks[p] = copies[0]
                    segments.extend(made)
        return self._fanout("push", buffers=_flat(blocks), targets=ids, block=block,
                            per_target=[len(b) for b in blocks], segments=segments)

    def gather(self, key, dist="b", targets=None, block=None):
        """Pull ``key`` from each target and join the blocks (lists rejoined, arrays concatenated)."""
        if not isinstance(key, str):
            raise TypeError(f"gather: key must be a str, not {key!r}")
        _, join = maps.distribution(dist)
        args = self._same_host.pull_args({"keys": key})
        return self._fanout("pull", args, targets=self._target_list(targets), block=block, after=join)

    def raw_map(self, func, seq, dist="b", targets=None, block=None):
        """Map ``func`` over ``seq``, a list of equal-length sequences, in blocks (not load balanced).

        ``func`` is a function, or a str naming one on the engines. One
        message per engine carries the function and that engine's block.
        """
        split, join = maps.distribution(dist)
        if isinstance(func, str):
            try:
                compile(func, "<map>", "eval")
            except SyntaxError:
                raise ValueError(f"map: {func!r} does not name a function") from None
            func_pieces, args = [], {"name": func}
        elif callable(func):
            try:
                func_pieces = serialize.dumps(func)
            except Exception as e:
                raise SerializationError(f"map: cannot send the function {func!r}: {e}") from e
            args = {"func_n": len(func_pieces)}
        else:
            raise TypeError(f"map needs a function or the name of one on the engines, not {type(func).__name__}")
        items = list(zip(*seq))
        ids = self._target_list(targets)
        counts, pieces = [], []
        for p in range(len(ids)):
            blob = serialize.dumps(split(items, p, len(ids)))
            counts.append(len(func_pieces) + len(blob))
            pieces.extend(func_pieces)
            pieces.extend(blob)
        return self._fanout("map", args, buffers=pieces, targets=ids, block=block,
                            per_target=counts, after=join)

    def map(self, func, *sequences):
        """Like the builtin map, in parallel over ``self.targets`` (not load balanced); a list."""
        return self.mapper(targets=self.targets, block=self.block).map(func, *sequences)

    def mapper(self, dist="b", targets="all", block=None):
        """A MultiEngineMapper with these options (``block=None`` means ``self.block``)."""
        return MultiEngineMapper(self, dist, targets, self.block if block is None else block)

    def parallel(self, dist="b", targets=None, block=None):
        """Decorator: ``@mec.parallel()`` makes ``f(seq)`` a parallel map of f over seq."""
        mapper = self.mapper(dist, self.targets if targets is None else targets, block)
        return lambda f: ParallelFunction(f, mapper)

    def zip_pull(self, keys, targets=None, block=None):
        """Pull several keys and zip: one tuple per key, with each engine's value.

        From one engine (an int target) it is that engine's value(s); with one
        key, the list of each engine's value. ``block=False`` gives a PendingResult.
        """
        targets, block = self._resolve(targets, block)
        pulled = self.pull(keys, targets=targets, block=block)
        multitarget = not _is_int(targets) and (targets == "all" or len(targets) > 1)
        several = not isinstance(keys, str) and len(keys) > 1

        def arrange(values):
            if not multitarget:
                return values[0]
            return list(zip(*values)) if several else list(values)

        if block:
            return arrange(pulled)
        pulled.add_callback(arrange)
        return pulled

    # -- pending results ------------------------------------------------------------

    def barrier(self, pending_results, progress=None):
        """Wait for every PendingResult; their errors are kept for ``r``/``get_result``.

        ``progress=True`` shows a progress bar; None shows one only in an
        interactive terminal or a notebook, for waits longer than about 2 s.
        """
        if isinstance(pending_results, PendingResult):
            pending_results = [pending_results]
        try:
            pending_results = list(pending_results)
        except TypeError:
            raise NotAPendingResult("barrier takes a list of PendingResult instances") from None
        for pr in pending_results:
            if not isinstance(pr, PendingResult):
                raise NotAPendingResult("Objects passed to barrier must be PendingResult instances")
        bar = progress_bar(progress, len(pending_results), "barrier")
        if bar is None:
            for pr in sorted(pending_results):
                try:
                    pr.get_result(block=True)
                except Exception:
                    pass
            return
        with bar:
            left = sorted(pending_results)
            while left:
                try:
                    left[0].get_result(block=True)
                except Exception:
                    pass
                unread = []
                for pr in left[1:]:
                    if not pr.called:
                        try:
                            pr.get_result(block=False)
                        except Exception:
                            pass
                    if not pr.called:
                        unread.append(pr)
                left = unread
                bar.update(len(pending_results) - len(left))

    def flush(self):
        """Drop every pending result not yet fetched; fetching one then raises InvalidDeferredID."""
        self._connection.forget_all()

    clear_pending_results = flush

    # -- conveniences ----------------------------------------------------------------

    def benchmark(self, push_size=10000):
        """Latency of execute('pass') and push bandwidth, on one and on all engines."""
        ids = self._ids_or_raise()
        single = ids[0]
        data = numpy.zeros(push_size)
        megabytes = data.nbytes / 1e6

        def best(stmt):
            return min(timeit.repeat(stmt, number=10, repeat=3)) / 10

        return {
            "single_engine_latency": (1000 * best(lambda: self.execute("pass", targets=single, block=True)), "msec"),
            "all_engine_latency": (1000 * best(lambda: self.execute("pass", targets=ids, block=True)), "msec"),
            "single_engine_push": (megabytes / best(lambda: self.push({"x": data}, targets=single, block=True)), "MB/sec"),
            "all_engine_push": (len(ids) * megabytes / best(lambda: self.push({"x": data}, targets=ids, block=True)), "MB/sec"),
        }

    def activate(self):
        """Make this client the one the %px, %autopx and %result magics use."""
        from kernel import magic

        magic.activate(self)

    def __setitem__(self, key, value):
        self.push({key: value}, targets=self.targets, block=self.block)

    def __getitem__(self, key):
        if not isinstance(key, str):
            raise TypeError("__getitem__ only takes strs")
        return self.pull(key, targets=self.targets, block=self.block)

    def __len__(self):
        return len(self.get_ids())

    # -- with mec: remote() ------------------------------------------------------------

    def __enter__(self):
        """``with mec:`` whose first statement is ``remote()`` runs its body on the engines.

        Any other ``with`` block runs here as usual, and the client's connection
        is closed at its end (a later call reconnects).
        """
        code = _remote_block(sys._getframe(1))
        self._with_remote = code is not None
        if code:
            self.execute(code)
        return self

    def __exit__(self, etype, value, tb):
        if getattr(self, "_with_remote", False):
            self._with_remote = False
            return etype is StopLocalExecution
        self.close()
        return False

    def close(self):
        self._connection.close()

    def __repr__(self):
        return f"<MultiEngineClient targets={self.targets!r} block={self.block!r}>"


def _is_remote_call(statement):
    if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)):
        return False
    func = statement.value.func
    return (isinstance(func, ast.Name) and func.id == "remote") or (
        isinstance(func, ast.Attribute) and func.attr == "remote")


def _remote_block(frame):
    """The source after ``remote()`` in the ``with`` block at ``frame``'s line, or None."""
    lines = linecache.getlines(frame.f_code.co_filename, frame.f_globals)
    if not lines:
        return None
    try:
        tree = ast.parse("".join(lines))
    except SyntaxError:
        return None
    line = frame.f_lineno
    found = None
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and node.lineno <= line < node.body[0].lineno:
            if found is None or node.lineno >= found.lineno:
                found = node
    if found is None or not _is_remote_call(found.body[0]):
        return None
    body = found.body[1:]
    if not body:
        return ""
    text = "".join(lines[body[0].lineno - 1:body[-1].end_lineno])
    return textwrap.dedent(text)


def _cell(text, width=40):
    text = str(text)
    return text if len(text) <= width else text[:width - 3] + "..."


def format_table(headers, rows):
    """Plain-text columns: a header line, then one line per row."""
    rows = [[_cell(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


class QueueStatus(list):
    """``mec.queue_status()``: the plain list of ``(id, status)``, shown as a table."""

    def table(self):
        rows = []
        for eid, status in self:
            queue = status.get("queue") or []
            rows.append([eid, status.get("pending"), len(queue), ", ".join(map(str, queue[:3]))
                         + (", ..." if len(queue) > 3 else "")])
        return format_table(["engine", "running", "queued", "queue"], rows)

    def __repr__(self):
        return self.table()

    __str__ = __repr__

    def _repr_pretty_(self, p, cycle):
        p.text(self.table())


class MultiEngineMapper:
    """Maps a function over sequences by scattering them to the engines."""

    def __init__(self, multiengine, dist="b", targets="all", block=True):
        self.multiengine = multiengine
        self.dist = dist
        self.targets = targets
        self.block = block

    def map(self, func, *sequences):
        """``[func(*args) for args in zip(*sequences)]``, computed on the engines in blocks."""
        if not sequences:
            raise TypeError("map() needs at least one sequence")
        sequences = [maps.as_sequence(s) for s in sequences]
        if len({len(s) for s in sequences}) > 1:
            raise ValueError("all sequences must have equal length")
        if not (isinstance(func, str) or callable(func)):
            raise TypeError(f"func must be a function or a str, not {type(func).__name__}")
        return self.multiengine.raw_map(func, sequences, dist=self.dist, targets=self.targets, block=self.block)


class ParallelFunction:
    """``f(*seqs)`` becomes ``mapper.map(f, *seqs)``."""

    def __init__(self, func, mapper):
        self.func = func
        self.mapper = mapper
        self.__name__ = getattr(func, "__name__", "parallel_function")
        self.__doc__ = func.__doc__
        self.__wrapped__ = func
        try:
            self.__signature__ = inspect.signature(func)
        except (TypeError, ValueError):
            pass

    def __call__(self, *sequences):
        return self.mapper.map(self.func, *sequences)

    def __repr__(self):
        return f"<ParallelFunction {self.__name__}>"
