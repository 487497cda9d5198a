"""MultiEngineClient: address each engine by id, blocking or not.

Every method takes ``targets=None, block=None`` overriding the instance's
``targets`` ('all', an int, or a list of ints) and ``block`` for that call.
Results are always a list with one entry per target, in target order; a
failure on any engine raises CompositeError.
"""

import inspect
import timeit
import types

import numpy

from kernel import paths
from kernel.client import maps
from kernel.client.connection import Connection
from kernel.client.remote import collect
from kernel.client.results import NotAPendingResult, PendingResult, ResultList
from kernel.wire import serialize


def default_furl_file(name):
    return str(paths.security_dir(paths.ipython_dir()) / name)


def _check_targets(targets):
    if targets == "all" or (isinstance(targets, int) and not isinstance(targets, bool)):
        return targets
    if isinstance(targets, (list, tuple)) and all(isinstance(t, int) and not isinstance(t, bool) for t in targets):
        return list(targets)
    raise ValueError("targets must be a str, list, tuple or int")


def _as_result_list(values):
    return ResultList(values)


class MultiEngineClient:
    def __init__(self, furl_or_file="", connect_timeout=10.0):
        furl = furl_or_file or default_furl_file(paths.MEC_FURL)
        self._connection = Connection(furl, "mec", connect_timeout)
        self.targets = "all"
        self.block = True
        self._pending = []

    # -- plumbing ---------------------------------------------------------------

    def _resolve(self, targets, block):
        targets = _check_targets(self.targets if targets is None else targets)
        block = self.block if block is None else block
        if block not in (True, False):
            raise ValueError("block must be True or False")
        return targets, block

    def _fanout(self, method, args=None, buffers=(), targets=None, block=None,
                per_target=None, after=None):
        """Call ``method`` on each target; ``after`` post-processes the value list."""
        targets, block = self._resolve(targets, block)
        if isinstance(targets, list) and not targets:
            return [] if block else self._done_pending([])
        header = {"op": "call", "method": method, "targets": targets}
        if args:
            header["args"] = args
        if per_target is not None:
            header["per_target"] = per_target

        def finish(reply, bufs):
            entries = reply["results"]
            values = collect(entries, serialize.split([e["n"] for e in entries], bufs), method)
            return after(values) if after else values

        return self._submit(header, buffers, block, finish)

    def _simple(self, op, targets=None, block=None):
        targets, block = self._resolve(targets, block)
        return self._submit({"op": op, "targets": targets}, (), block, lambda h, b: h["value"])

    def _submit(self, header, buffers, block, finish):
        rid = self._connection.request(header, buffers)
        if block:
            return finish(*self._connection.wait(rid))
        pending = PendingResult(self, rid, finish)
        self._pending.append(pending)
        return pending

    def _done_pending(self, value):
        pending = PendingResult(self, None, None)
        pending._store(value, raised=False)
        return pending

    # -- core methods -----------------------------------------------------------

    def get_ids(self):
        """The ids of the registered engines."""
        header, _ = self._connection.call({"op": "get_ids"})
        return header["value"]

    def execute(self, lines, targets=None, block=None):
        """Run the code string ``lines`` on each engine; return a ResultList."""
        if not isinstance(lines, str):
            raise TypeError(f"execute takes a code string, not {type(lines).__name__}")
        return self._fanout("execute", {"code": lines}, targets=targets, block=block, after=_as_result_list)

    def run(self, filename, targets=None, block=None):
        """Compile a local file here (a SyntaxError is raised locally), then execute it."""
        with open(filename, encoding="utf-8") as f:
            source = f.read()
        compile(source, filename, "exec")
        return self.execute(source, targets=targets, block=block)

    def push(self, namespace, targets=None, block=None):
        """Update each engine's namespace with the dict ``namespace``."""
        if not isinstance(namespace, dict):
            raise TypeError(f"push takes a dict, not {type(namespace).__name__}")
        return self._fanout("push", buffers=serialize.dumps(namespace), targets=targets, block=block)

    def pull(self, keys, targets=None, block=None):
        """Fetch names from each engine: one value per engine, or a list for several keys."""
        keys = self._check_keys(keys)
        return self._fanout("pull", {"keys": keys}, targets=targets, block=block)

    @staticmethod
    def _check_keys(keys):
        if isinstance(keys, str):
            return keys
        if isinstance(keys, (list, tuple)) and all(isinstance(k, str) for k in keys):
            return list(keys)
        raise TypeError("keys must be a str or a list of str")

    def push_function(self, namespace, targets=None, block=None):
        """Push functions (closures and defaults included; legacy name for push)."""
        for name, value in namespace.items():
            if not callable(value):
                raise TypeError(f"function object expected for {name!r}")
        return self.push(namespace, targets=targets, block=block)

    def pull_function(self, keys, targets=None, block=None):
        return self.pull(keys, targets=targets, block=block)

    def push_serialized(self, namespace, targets=None, block=None):
        """Push values (arrays move as raw buffers either way; legacy name)."""
        return self.push(namespace, targets=targets, block=block)

    def pull_serialized(self, keys, targets=None, block=None):
        return self.pull(keys, targets=targets, block=block)

    def get_result(self, i=None, targets=None, block=None):
        """The result dict of command number ``i`` (default: the latest) on each engine."""
        return self._fanout("get_result", {"i": i}, targets=targets, block=block, after=_as_result_list)

    def reset(self, targets=None, block=None):
        """Empty each engine's namespace (keeping ``id``), history and properties."""
        return self._fanout("reset", targets=targets, block=block)

    def keys(self, targets=None, block=None):
        return self._fanout("keys", targets=targets, block=block)

    def kill(self, controller=False, targets=None, block=None):
        """Stop the engines; with ``controller=True`` every engine and the controller."""
        return self._fanout("kill", {"controller": bool(controller)}, targets=targets, block=block)

    def interrupt(self, targets=None, block=None):
        """Raise KeyboardInterrupt in the code each engine is running now."""
        return self._simple("interrupt", targets, block)

    def clear_queue(self, targets=None, block=None):
        """Fail queued (not yet running) commands with QueueCleared."""
        return self._simple("clear_queue", targets, block)

    def queue_status(self, targets=None, block=None):
        """``[(id, {'queue': [...], 'pending': ...}), ...]``"""
        targets, block = self._resolve(targets, block)
        return self._submit({"op": "queue_status", "targets": targets}, (), block,
                            lambda h, b: [tuple(item) for item in h["value"]])

    # -- properties ----------------------------------------------------------------

    def set_properties(self, properties, targets=None, block=None):
        if not isinstance(properties, dict):
            raise TypeError("properties must be a dict")
        return self._fanout("set_properties", buffers=serialize.dumps(properties), targets=targets, block=block)

    def get_properties(self, keys=None, targets=None, block=None):
        return self._fanout("get_properties", {"keys": keys}, targets=targets, block=block)

    def has_properties(self, keys, targets=None, block=None):
        return self._fanout("has_properties", {"keys": keys}, targets=targets, block=block)

    def del_properties(self, keys, targets=None, block=None):
        return self._fanout("del_properties", {"keys": keys}, targets=targets, block=block)

    def clear_properties(self, targets=None, block=None):
        return self._fanout("clear_properties", targets=targets, block=block)

    # -- scatter, gather and map -----------------------------------------------------

    def _target_list(self, targets):
        targets = _check_targets(self.targets if targets is None else targets)
        if targets == "all":
            return self.get_ids()
        return [targets] if isinstance(targets, int) else targets

    def scatter(self, key, seq, dist="b", flatten=False, targets=None, block=None):
        """Partition ``seq`` into contiguous blocks and push one block to each target."""
        split, _ = maps.distribution(dist)
        ids = self._target_list(targets)
        counts, pieces = [], []
        for p in range(len(ids)):
            part = split(seq, p, len(ids))
            if flatten and len(part) == 1:
                part = part[0]
            blob = serialize.dumps({key: part})
            counts.append(len(blob))
            pieces.extend(blob)
        return self._fanout("push", buffers=pieces, targets=ids, block=block, per_target=counts)

    def gather(self, key, dist="b", targets=None, block=None):
        """Pull ``key`` from each target and join the blocks."""
        _, join = maps.distribution(dist)
        return self._fanout("pull", {"keys": key}, targets=self._target_list(targets), block=block, after=join)

    def raw_map(self, func, seq, dist="b", targets=None, block=None):
        """Map ``func`` over ``seq`` (a sequence of equal-length sequences), not load balanced."""
        ids = self._target_list(targets)
        if isinstance(func, str):
            func_source = func
        elif callable(func):
            self.push({"_kernel_map_func": func}, targets=ids, block=True)
            func_source = "_kernel_map_func"
        else:
            raise TypeError("func must be a function or the name of one on the engines")
        self.scatter("_kernel_map_seq", list(zip(*seq)), dist, targets=ids, block=True)
        self.execute(f"_kernel_map_result = [{func_source}(*_a) for _a in _kernel_map_seq]",
                     targets=ids, block=True)
        return self.gather("_kernel_map_result", dist, targets=ids, block=block)

    def map(self, func, *sequences):
        """Like the builtin map, in parallel over the engines (not load balanced)."""
        return self.mapper().map(func, *sequences)

    def mapper(self, dist="b", targets="all", block=None):
        return MultiEngineMapper(self, dist, targets, self.block if block is None else block)

    def parallel(self, dist="b", targets=None, block=None):
        """Decorator: ``@mec.parallel()`` makes ``f(seq)`` a parallel map of f."""
        mapper = self.mapper(dist, self.targets if targets is None else targets, block)
        return lambda f: ParallelFunction(f, mapper)

    def zip_pull(self, keys, targets=None, block=None):
        targets = self.targets if targets is None else targets
        multitarget = not isinstance(targets, int) and (targets == "all" or len(targets) > 1)
        values = self.pull(keys, targets=targets, block=True)
        return list(zip(*values)) if multitarget else values[0]

    # -- pending results ------------------------------------------------------------

    def barrier(self, pending_results):
        """Wait for every PendingResult; errors are kept for their ``r``."""
        for pr in pending_results:
            if not isinstance(pr, PendingResult):
                raise NotAPendingResult("Objects passed to barrier must be PendingResult instances")
        for pr in sorted(pending_results):
            try:
                pr.get_result(block=True)
            except Exception:
                pass

    def flush(self):
        """Forget every pending result (their replies are discarded on arrival)."""
        for pr in self._pending:
            if not pr.called:
                self._connection._waiting.discard(pr.result_id)
                self._connection._ready.pop(pr.result_id, None)
        self._pending = []

    clear_pending_results = flush

    # -- conveniences ----------------------------------------------------------------

    def benchmark(self, push_size=10000):
        """Latency of execute('pass') and push bandwidth, on one and on all engines."""
        ids = self.get_ids()
        single = ids[0]
        data = numpy.zeros(push_size)
        megabytes = data.nbytes / 1e6

        def best(stmt):
            return min(timeit.repeat(stmt, number=10, repeat=3)) / 10

        return {
            "single_engine_latency": (1000 * best(lambda: self.execute("pass", targets=single, block=True)), "msec"),
            "all_engine_latency": (1000 * best(lambda: self.execute("pass", targets="all", block=True)), "msec"),
            "single_engine_push": (megabytes / best(lambda: self.push({"x": data}, targets=single, block=True)), "MB/sec"),
            "all_engine_push": (len(ids) * megabytes / best(lambda: self.push({"x": data}, targets="all", block=True)), "MB/sec"),
        }

    def activate(self):
        """Make this client the one the %px magics use."""
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
        if not sequences:
            raise TypeError("map() needs at least one sequence")
        if len({len(s) for s in sequences}) > 1:
            raise ValueError("all sequences must have equal length")
        if not (isinstance(func, (types.FunctionType, str)) or callable(func)):
            raise TypeError("func must be a function or a str")
        return self.multiengine.raw_map(func, sequences, dist=self.dist, targets=self.targets, block=self.block)


class ParallelFunction:
    """``f(*seqs)`` becomes ``mapper.map(f, *seqs)``."""

    def __init__(self, func, mapper):
        self.func = func
        self.mapper = mapper
        self.__name__ = getattr(func, "__name__", "parallel_function")
        self.__doc__ = func.__doc__
        try:
            self.__signature__ = inspect.signature(func)
        except (TypeError, ValueError):
            pass

    def __call__(self, *sequences):
        return self.mapper.map(self.func, *sequences)
