"""MultiEngineClient: address each engine by id, blocking or not.

Every method takes ``targets=None, block=None`` overriding the instance's
``targets`` ('all', an int, or a list of ints) and ``block`` for that call.
Results are always a list with one entry per target, in target order; a
failure on any engine raises CompositeError.

This module is the API and its plumbing (one ``call`` message per method,
fanned out by the controller); the rest lives beside it, one job a module:
``checks`` (arguments), ``remoteblock`` (``with mec:``), ``tables``
(``queue_status``), ``parallel`` (``@mec.parallel``), ``undelivered``
(shared memory at exit) and ``benchmark``. The names this module offered
before the split stay importable from it: legacy code imports it as
``IPython.kernel.multiengineclient``.
"""

import os
import sys

from kernel import config, paths, versions
from kernel.client import benchmark as benchmarks
from kernel.client import checks, maps, newserialized, undelivered
from kernel.client.connection import Connection, default_furl_file, furl_or_default
from kernel.client.executor import MultiEngineExecutor
from kernel.client.parallel import ParallelFunction
from kernel.client.remote import CompositeError, collect, unwrap_error
from kernel.client.remoteblock import remote, remote_block
from kernel.client.results import PendingResult, ResultList, done, submit, wait_for_all, with_input
from kernel.client.samehost import SameHost
from kernel.client.tables import QueueStatus, format_table
from kernel.errors import MissingBlockArgument, SerializationError, StopLocalExecution
from kernel.wire import framing, messages, serialize, shm, shmpool

__all__ = ["MultiEngineClient", "MultiEngineMapper", "ParallelFunction", "PendingResult", "ResultList",
           "QueueStatus", "remote", "format_table", "default_furl_file", "dumps_named"]


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


def _map_call(func, blocks):
    """The ``map`` call's ``args``, buffers and per-target counts: ``func`` (or the name of one on
    the engines) with each target's block of argument tuples."""
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
    counts, pieces = [], []
    for block in blocks:
        blob = serialize.dumps(block)
        counts.append(len(func_pieces) + len(blob))
        pieces.extend(func_pieces)
        pieces.extend(blob)
    return args, pieces, counts


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
        self._connection = Connection(furl_or_default(furl_or_file, "mec"), "mec", connect_timeout)
        self._same_host = SameHost(self.engine_info, shared_memory and settings.shared_memory)
        if self._same_host.key is not None:
            shm.sweep()
        self.targets = "all"
        self.block = True

    # -- plumbing ---------------------------------------------------------------

    def _resolve(self, targets, block):
        targets = checks.targets(self.targets if targets is None else targets)
        block = self.block if block is None else block
        if block is None:
            raise MissingBlockArgument("'block' keyword argument is missing: pass block=True or "
                                       "block=False, or set the client's block attribute")
        if block not in (True, False):
            raise ValueError(f"block must be True or False, not {block!r}")
        return targets, bool(block)

    def _call_header(self, method, targets, args=None, per_target=None):
        header = messages.MultiEngineCall.header(method=method, targets=targets)
        if args:
            header["args"] = args
        if per_target is not None:
            header["per_target"] = per_target
        return header

    def _fanout(self, method, args=None, buffers=(), targets=None, block=None,
                per_target=None, after=None, empty=None, segments=(), stream=False):
        """Call ``method`` on each target; ``after`` post-processes the value list. With ``stream``, a
        PendingResult (``block=False``) shows the output as it is printed (``kernel.client.streaming``).

        ``segments`` are the shared-memory tickets the call hands out: each
        engine removes its own once it has mapped it, and whatever is left (an
        engine failed first) is removed when the reply is in.
        """
        targets, block = self._resolve(targets, block)
        if isinstance(targets, list) and not targets:
            value = [] if empty is None else empty
            return value if block else done(self, value)
        header = self._call_header(method, targets, args, per_target)
        stream = stream and not block
        if stream:
            header["stream"] = True

        kept = []

        def finish(replies):
            undelivered.answered(kept)
            try:
                values = _values(replies[0], method)
            finally:
                shmpool.withdraw(segments)
            return after(values) if after else values

        try:
            result = submit(self, [(header, buffers)], block, finish, stream)
        except Exception:  # the call is lost: no engine will take its segments
            shmpool.withdraw(segments)
            raise
        if segments and not block:
            kept.append(result)
            undelivered.keep(result)
        return result

    def _simple(self, message, targets=None, block=None, convert=None):
        """Ask the controller itself (not the engines) ``message`` about the targets."""
        targets, block = self._resolve(targets, block)

        def finish(replies):
            value = replies[0][0]["value"]
            return convert(value) if convert else value

        return submit(self, [(message.header(targets=targets), ())], block, finish)

    def _target_list(self, targets):
        targets = checks.targets(self.targets if targets is None else targets)
        if targets == "all":
            return self._ids_or_raise()
        return [targets] if checks.is_int(targets) else targets

    def _ids_or_raise(self):
        ids = self.get_ids()
        if not ids:  # let the controller say it, with its hint
            self._fanout("keys", targets="all", block=True)
        return ids

    # -- core methods -----------------------------------------------------------

    def get_ids(self):
        """The ids of the registered engines (always blocking)."""
        header, _ = self._connection.call(messages.GetIds.header())
        return header["value"]

    def engine_info(self, timeout=None):
        """What the controller knows of its engines (always blocking).

        ``{'engines': [{'id', 'pid', 'host', 'host_key', 'versions'}, ...],
        'scheme': the task scheme, 'relays': how many relay processes hold the
        engines' connections}``; ``timeout`` (seconds) bounds the wait for the
        answer (ControllerTimeout).
        """
        header, _ = self._connection.call(messages.EngineInfo.header(), timeout=timeout)
        return header["value"]

    def get_versions(self):
        """``{engine id: {'kernel', 'python', 'cloudpickle': version}}`` (always blocking).

        Warns (``VersionMismatchWarning``) of each engine whose Python minor
        version or cloudpickle major version differs from this client's.
        """
        found = {engine["id"]: engine.get("versions") or {} for engine in self.engine_info()["engines"]}
        for eid, theirs in found.items():
            versions.warn_of_mismatch(theirs, f"engine {eid}")
        return found

    def execute(self, lines, targets=None, block=None):
        """Run the code string ``lines`` on each engine; return a ResultList.

        Not blocking, the PendingResult shows what the engines print as they
        print it: ``pr.stream_output()`` prints it (``%px --stream``).
        """
        if not isinstance(lines, str):
            raise TypeError(f"execute takes a string of Python code, not {type(lines).__name__}")
        args = {"code": lines}
        if versions.speaks(self._connection.peer_versions, versions.ECHO):
            args["echo"] = False  # the engines need not send the code back: it is filled in here
        return self._fanout("execute", args, targets=targets, block=block,
                            after=lambda results: with_input(results, lines), empty=ResultList(), stream=True)

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
        args = self._same_host.pull_args({"keys": checks.keys(keys, "pull")})
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
        """Push, taking values as ``newserialized.Serialized`` (0.10) or plain."""
        return self.push(newserialized.plain_values(namespace), targets=targets, block=block)

    def pull_serialized(self, keys, targets=None, block=None):
        """The legacy name for pull (``newserialized.unserialize`` of a value is the value)."""
        return self.pull(keys, targets=targets, block=block)

    def get_result(self, i=None, targets=None, block=None):
        """The result dict of command number ``i`` (default: the latest) on each target."""
        if i is not None and not checks.is_int(i):
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
        return self._simple(messages.InterruptEngines, targets, block)

    def clear_queue(self, targets=None, block=None):
        """Fail the queued (not yet running) commands with QueueCleared."""
        return self._simple(messages.ClearQueue, targets, block)

    def queue_status(self, targets=None, block=None):
        """``[(id, {'queue': [...], 'pending': ...}), ...]``, shown as a table."""
        return self._simple(messages.EngineQueueStatus, targets, block,
                            lambda value: QueueStatus(tuple(item) for item in value))

    # -- properties ----------------------------------------------------------------

    def set_properties(self, properties, targets=None, block=None):
        """Update each engine's properties (a dict of picklable values)."""
        return self._fanout("set_properties", buffers=dumps_named(properties, "set_properties"),
                            targets=targets, block=block)

    def get_properties(self, keys=None, targets=None, block=None):
        """A dict of properties per engine (all of them when ``keys`` is None)."""
        if keys is not None:
            keys = checks.keys(keys, "get_properties")
        return self._fanout("get_properties", {"keys": keys}, targets=targets, block=block)

    def has_properties(self, keys, targets=None, block=None):
        """``[[bool, ...], ...]``: whether each engine has each key."""
        return self._fanout("has_properties", {"keys": checks.keys(keys, "has_properties")},
                            targets=targets, block=block)

    def del_properties(self, keys, targets=None, block=None):
        return self._fanout("del_properties", {"keys": checks.keys(keys, "del_properties")},
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
        items = list(zip(*seq))
        ids = self._target_list(targets)
        args, pieces, counts = _map_call(func, [split(items, p, len(ids)) for p in range(len(ids))])
        return self._fanout("map", args, buffers=pieces, targets=ids, block=block,
                            per_target=counts, after=join)

    def _apply(self, func, args, engine, after):
        """``func(*args)`` on ``engine``, not blocking: a PendingResult of ``after(values)`` that
        raises the engine's exception itself, not a CompositeError (what executors want)."""
        map_args, pieces, counts = _map_call(func, [[tuple(args)]])
        header = self._call_header("map", [engine], map_args, counts)

        def finish(replies):
            try:
                return after(_values(replies[0], "map"))
            except CompositeError as e:
                raise unwrap_error(e)

        return submit(self, [(header, pieces)], False, finish)

    def executor(self, targets=None):
        """A ``concurrent.futures.Executor`` running calls on ``targets`` (default: ``self.targets``),
        each on the one with the fewest calls of it in flight (see ``kernel.client.executor``)."""
        return MultiEngineExecutor(self, self.targets if targets is None else targets)

    def map(self, func, *sequences):
        """Like the builtin map, in parallel over ``self.targets`` (not load balanced); a list."""
        return self.mapper(targets=self.targets, block=self.block).map(func, *sequences)

    def mapper(self, dist="b", targets="all", block=None):
        """A MultiEngineMapper with these options (``block=None`` means ``self.block``)."""
        return MultiEngineMapper(self, dist, targets, self.block if block is None else block)

    def parallel(self, dist="b", targets=None, block=None):
        """Decorator: ``@mec.parallel()`` makes ``f(seq)`` a parallel map of f over seq."""
        return ParallelFunction(self.mapper(dist, self.targets if targets is None else targets, block))

    def zip_pull(self, keys, targets=None, block=None):
        """Pull several keys and zip: one tuple per key, with each engine's value.

        From one engine (an int target) it is that engine's value(s); with one
        key, the list of each engine's value. ``block=False`` gives a PendingResult.
        """
        targets, block = self._resolve(targets, block)
        pulled = self.pull(keys, targets=targets, block=block)
        multitarget = not checks.is_int(targets) and (targets == "all" or len(targets) > 1)
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
        wait_for_all(pending_results, progress)

    def flush(self):
        """Drop every pending result not yet fetched; fetching one then raises InvalidDeferredID."""
        self._connection.forget_all()

    clear_pending_results = flush

    # -- conveniences ----------------------------------------------------------------

    def benchmark(self, push_size=10000):
        """Latency of execute('pass') and push bandwidth, on one and on all engines (see ``kernel.client.benchmark``)."""
        return benchmarks.measure(self, self._ids_or_raise(), push_size)

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
        code = remote_block(sys._getframe(1))
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


class MultiEngineMapper:
    """Maps a function over sequences by scattering them to the engines."""

    def __init__(self, multiengine, dist="b", targets="all", block=True):
        self.multiengine = multiengine
        self.dist = dist
        self.targets = targets
        self.block = block

    def map(self, func, *sequences):
        """``[func(*args) for args in zip(*sequences)]``, computed on the engines in blocks."""
        sequences = maps.map_sequences(sequences)
        if not (isinstance(func, str) or callable(func)):
            raise TypeError(f"func must be a function or a str, not {type(func).__name__}")
        return self.multiengine.raw_map(func, sequences, dist=self.dist, targets=self.targets, block=self.block)
