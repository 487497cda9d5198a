"""The engine's namespace and the operations the interfaces ask of it.

Everything here runs on the engine's command thread, one command at a time, so
no locking is needed and KeyboardInterrupt can reach user code.
"""

import ast
import copy
import pickle
import sys
import textwrap
import types

from kernel.engine.capture import Capture
from kernel.errors import InvalidProperty

HIDDEN = {"__name__", "__builtins__", "_ih", "_oh", "In", "Out", "_", "__", "___"}
_MODULE_DUNDERS = {"__name__", "__builtins__", "__package__", "__file__", "__path__",
                   "__loader__", "__spec__", "__doc__", "__cached__"}


def shipped_by_value(func):
    """True for a function that arrived as code (not as a reference to an importable module)."""
    module = sys.modules.get(getattr(func, "__module__", None) or "")
    return module is None or getattr(module, "__dict__", None) is not func.__globals__


def rebind(func, namespace):
    """A copy of ``func`` whose globals are the engine's namespace.

    As in the legacy engines, a pushed function sees the names pushed to or
    defined on the engine. The globals it brought along (imports and values
    it uses) are added to the namespace only where the name is still free,
    so they never overwrite the engine's own values. Defaults, keyword
    defaults, closures and attributes are kept.
    """
    if func.__globals__ is namespace:
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
        """Run each top-level statement in 'single' mode, as the legacy engines did.

        So every top-level expression statement reaches the displayhook, and
        the last value shown is the command's ``display``.
        """
        source = textwrap.dedent(code).strip()
        tree = ast.parse(source, filename="<string>", mode="exec")
        for statement in tree.body:
            exec(compile(ast.Interactive([statement]), "<string>", "single"), self.namespace)

    def get_result(self, i=None):
        if i is None:
            i = self.number
        if i not in self.history:
            raise IndexError(f"index {i!r} out of range")
        return self.history[i]

    # -- namespace ----------------------------------------------------------

    def push(self, namespace):
        adopted = {}
        for key, value in namespace.items():
            if isinstance(value, types.FunctionType) and shipped_by_value(value):
                value = rebind(value, self.namespace)
            adopted[key] = value
        self.namespace.update(adopted)
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
