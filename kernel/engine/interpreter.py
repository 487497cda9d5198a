"""The engine's namespace and the operations the interfaces ask of it.

Everything here runs on the engine's command thread, one command at a time, so
no locking is needed and KeyboardInterrupt can reach user code.
"""

import copy
import functools
import io
import pickle
import sys
import textwrap
import tokenize
import types

from kernel.engine.capture import Capture
from kernel.errors import InvalidProperty

HIDDEN = {"__name__", "__builtins__", "_ih", "_oh", "In", "Out", "_", "__", "___"}
_MODULE_DUNDERS = {"__name__", "__builtins__", "__package__", "__file__", "__path__",
                   "__loader__", "__spec__", "__doc__", "__cached__"}


_CLAUSES = {"else", "elif", "except", "finally"}
_SKIP = {tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER, tokenize.ENCODING}


def top_level_statements(source):
    """``(first, last)`` line numbers (1-based, inclusive) of each top-level statement.

    A statement runs from the line where it starts to the line before the
    next one starts: compound statements keep their blocks and their
    ``else``/``elif``/``except``/``finally`` clauses, decorators their
    function or class.
    """
    starts = []
    depth = 0
    line_start = True
    joined = False  # the last top-level line was a decorator
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.INDENT:
            depth += 1
        elif token.type == tokenize.DEDENT:
            depth -= 1
        elif token.type == tokenize.NEWLINE:
            line_start = True
        elif token.type not in _SKIP and line_start:
            line_start = False
            if depth == 0:
                clause = token.type == tokenize.NAME and token.string in _CLAUSES
                if not (joined or (clause and starts)):
                    starts.append(token.start[0])
                joined = token.type == tokenize.OP and token.string == "@"
    end = len(source.splitlines())
    return [(first, (starts[i + 1] - 1) if i + 1 < len(starts) else end) for i, first in enumerate(starts)]


CACHED_SOURCE_MAX = 4096  # longer sources are compiled afresh each time, not kept


def compiled(code):
    """The code objects that run ``code``, one per top-level statement in 'single' mode.

    As the legacy engines did: so every top-level expression statement reaches
    the displayhook, and the last value shown is the command's ``display``.
    The statements are found by tokenizing, not with the ``ast`` module:
    building ``ast`` objects is not thread-safe in CPython 3.11, and in-process
    engines run next to other threads that parse. Short sources are cached:
    the same command sent again skips the parser.
    """
    return _compiled_cached(code) if len(code) <= CACHED_SOURCE_MAX else _compile(code)


def _compile(code):
    source = textwrap.dedent(code).strip()
    whole = compile(source, "<string>", "exec")  # syntax errors, before anything runs
    try:
        spans = top_level_statements(source)
    except (tokenize.TokenError, SyntaxError):
        return (whole,)
    lines = source.splitlines(keepends=True)
    return tuple(
        compile("\n" * (first - 1) + "".join(lines[first - 1:last]) + "\n", "<string>", "single")
        for first, last in spans)  # the leading newlines keep line numbers


_compiled_cached = functools.lru_cache(maxsize=256)(_compile)


def shipped_by_value(func):
    """True for a function that arrived as code (not as a reference to an importable module)."""
    module = sys.modules.get(getattr(func, "__module__", None) or "")
    return module is None or getattr(module, "__dict__", None) is not func.__globals__


def rebind(func, namespace):
    """``func`` as it runs on this engine: the one rule for pushed functions, ``mec.map`` and tasks.

    0.10's engines rebuilt every function they were sent with the engine's
    namespace as its globals (``FunctionType(code, user_ns)``, for
    ``push_function``, ``map`` and ``MapTask`` alike), so it saw what was
    pushed or defined there and a ``global`` statement wrote there. So here:
    a function that arrived as code gets the engine's namespace as its
    globals. The globals it brought along (imports and values it uses, which
    0.10 did not send) are added to the namespace only where the name is
    still free, so they never overwrite the engine's own values. Defaults,
    keyword defaults, closures and attributes are kept. Anything else
    (builtins, functions of modules the engine imports, other callables) is
    returned as it is.
    """
    if not isinstance(func, types.FunctionType) or func.__globals__ is namespace or not shipped_by_value(func):
        return func
    for name, value in func.__globals__.items():
        if name not in _MODULE_DUNDERS:
            namespace.setdefault(name, value)
    new = types.FunctionType(func.__code__, namespace, func.__name__, func.__defaults__, func.__closure__)
    new.__kwdefaults__ = func.__kwdefaults__
    new.__dict__.update(func.__dict__)
    for attr in ("__qualname__", "__doc__", "__module__", "__annotations__"):
        try:
            setattr(new, attr, getattr(func, attr))
        except (AttributeError, TypeError):
            pass
    return new


class Interpreter:
    """A user namespace plus history, properties and the execute counter."""

    def __init__(self, engine_id=None, mpi=None):
        self.engine_id = engine_id
        self.mpi = mpi
        self.properties = {}
        self.reset()

    def reset(self):
        """Empty the namespace (keeping ``id`` and ``mpi``), history and properties."""
        self.namespace = {"__name__": "__main__", "__builtins__": __builtins__}
        self.namespace["id"] = self.engine_id
        self.namespace["mpi"] = self.mpi
        self.number = 0
        self.history = {}
        self.properties.clear()

    def clear_namespace(self):
        """Empty the user namespace only (a task's clear_before/clear_after)."""
        self.namespace = {"__name__": "__main__", "__builtins__": __builtins__,
                          "id": self.engine_id, "mpi": self.mpi}

    def set_id(self, engine_id):
        self.engine_id = engine_id
        self.namespace["id"] = engine_id

    # -- code -------------------------------------------------------------

    def execute(self, code):
        """Run ``code``; return the legacy result dict, or raise its exception.

        The counter goes up for failed commands too; only successful ones are
        kept for ``get_result``.
        """
        self.number += 1
        result = {
            "id": self.engine_id,
            "number": self.number,
            "input": {"raw": code, "translated": code},
        }
        with Capture() as captured:
            try:
                self._run(code)
            finally:
                for key in ("stdout", "stderr"):
                    text = getattr(captured, key).getvalue()
                    if text:
                        result[key] = text
                if captured.display is not None:
                    result["display"] = captured.display
        self.history[self.number] = result
        return result

    def _run(self, code):
        for statement in compiled(code):
            exec(statement, self.namespace)

    def get_result(self, i=None):
        if i is None:
            i = self.number
        if i not in self.history:
            raise IndexError(f"index {i!r} out of range")
        return self.history[i]

    # -- namespace ----------------------------------------------------------

    def adopt(self, func):
        """``func`` rebound to run here (see ``rebind``): what tasks call, by duck typing."""
        return rebind(func, self.namespace)

    def push(self, namespace):
        self.namespace.update({key: rebind(value, self.namespace) for key, value in namespace.items()})
        if "id" in namespace:
            self.namespace["id"] = self.engine_id

    def pull(self, keys):
        single = isinstance(keys, str)
        names = [keys] if single else list(keys)
        values = []
        for name in names:
            if name not in self.namespace:
                raise NameError(f"name {name} is not defined")
            values.append(self.namespace[name])
        return values[0] if single or len(values) == 1 else values

    def keys(self):
        return [k for k in self.namespace if k not in HIDDEN]

    # -- properties (deep-copied both ways, values must pickle) ------------

    def set_properties(self, props):
        for key, value in props.items():
            try:
                pickle.dumps(key)
                pickle.dumps(value)
            except Exception:
                raise InvalidProperty(f"can't be a value: {value!r} (property {key!r} must pickle)") from None
        self.properties.update(copy.deepcopy(props))

    def get_properties(self, keys=None):
        if keys is None:
            return copy.deepcopy(self.properties)
        keys = [keys] if isinstance(keys, str) else keys
        return {k: copy.deepcopy(self.properties[k]) for k in keys if k in self.properties}

    def has_properties(self, keys):
        keys = [keys] if isinstance(keys, str) else keys
        return [k in self.properties for k in keys]

    def del_properties(self, keys):
        keys = [keys] if isinstance(keys, str) else keys
        for k in keys:
            self.properties.pop(k, None)

    def clear_properties(self):
        self.properties.clear()
