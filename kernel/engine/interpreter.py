"""The engine's namespace and the operations the interfaces ask of it.

Everything here runs on the engine's main thread, one command at a time, so
no locking is needed and KeyboardInterrupt can reach user code.
"""

import ast
import copy
import pickle

from kernel.engine.capture import Capture
from kernel.errors import InvalidProperty

HIDDEN = {"__name__", "__builtins__", "_ih", "_oh", "In", "Out", "_", "__", "___"}


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
        """Run ``code``; return the legacy result dict, or raise its exception."""
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
        source = code.strip()
        tree = ast.parse(source, filename="<string>", mode="exec")
        body = tree.body
        if body and isinstance(body[-1], ast.Expr):
            *head, last = body
            if head:
                exec(compile(ast.Module(head, []), "<string>", "exec"), self.namespace)
            exec(compile(ast.Interactive([last]), "<string>", "single"), self.namespace)
        else:
            exec(compile(tree, "<string>", "exec"), self.namespace)

    def get_result(self, i=None):
        if i is None:
            i = self.number
        if i not in self.history:
            raise IndexError(f"index {i!r} out of range")
        return self.history[i]

    # -- namespace ----------------------------------------------------------

    def push(self, namespace):
        self.namespace.update(namespace)
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
                raise InvalidProperty(f"can't be a value: {value!r}") from None
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
