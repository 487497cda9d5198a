"""Tasks for the load-balanced interface: StringTask, MapTask and their results.

A task is pickled whole by the client and unpickled only by the engine that
runs it: ``run_on(interpreter)`` is called there. The scheduling options
(retries, recovery_task, after/follow, timeout, and whether a ``depend``
predicate exists) are sent beside it as plain data, because the controller
never unpickles anything.
"""

import importlib
import time

from kernel.client import checks
from kernel.dependency import Dependency
from kernel.errors import UnmetDependency

TIME_FORMAT = "%Y/%m/%d %H:%M:%S"  # the legacy format of TaskResult.submitted and .completed


def _as_dependency(value):
    """A task id, a collection of them or a Dependency as a Dependency; None if it is none of these."""
    if isinstance(value, Dependency):
        return value
    if checks.is_int(value) or isinstance(value, (list, tuple, set, frozenset)):
        try:
            return Dependency(value)
        except TypeError:
            pass
    return None


def _dependency(value, name):
    """The ``after`` or ``follow`` option, checked (None stays None)."""
    if value is None:
        return None
    dependency = _as_dependency(value)
    if dependency is None:
        raise TypeError(f"{name} must be a task id, a list of task ids or a Dependency, not {value!r}")
    if not (dependency.success or dependency.failure):
        raise ValueError(f"{name} counts neither success nor failure, so it could never be met: {value!r}")
    return dependency


class BaseTask:
    """The options both kinds of task share.

    - ``clear_before`` / ``clear_after``: empty the engine's namespace before
      the task runs / after it ran (whether it succeeded or not).
    - ``retries``: how many times a failed task is run again, on other
      engines when there are any.
    - ``recovery_task``: a task run, under the same task id, once the
      retries are used up; it may have its own ``recovery_task`` (no loops).
    - ``depend``: ``f(properties) -> bool``, evaluated on an engine against
      its properties; the task runs only where it returns True.
    - ``after`` / ``follow``: task ids (or a :class:`Dependency`) that must
      have finished first / on whose engine this task must run.
    - ``timeout``: seconds after which a task that could not start yet fails
      with DependencyTimeout (None or 0: wait for ever).

    A bad option raises TypeError (wrong type) or ValueError (a negative
    ``retries``, a ``timeout`` that is negative, NaN or infinite) naming it.
    """

    kind = None

    def __init__(self, clear_before=False, clear_after=False, retries=0, recovery_task=None,
                 depend=None, after=None, follow=None, timeout=None):
        if recovery_task is not None and not isinstance(recovery_task, BaseTask):
            raise TypeError(f"recovery_task must be a StringTask or MapTask, not {type(recovery_task).__name__}")
        if depend is not None and not callable(depend):
            raise TypeError(f"depend must be a function of the engine's properties dict, not {depend!r}")
        self.clear_before = checks.flag(clear_before, "clear_before")
        self.clear_after = checks.flag(clear_after, "clear_after")
        self.retries = checks.retries(retries)
        self.recovery_task = recovery_task
        self.depend = depend
        self.after = _dependency(after, "after")
        self.follow = _dependency(follow, "follow")
        self.timeout = checks.timeout(timeout)
        self.taskid = None  # set by TaskClient.run

    def chain(self):
        """This task and its recovery tasks in order; a loop is refused with ValueError."""
        seen, tasks, task = set(), [], self
        while task is not None:
            if id(task) in seen:
                raise ValueError("the recovery_task chain loops back on itself")
            seen.add(id(task))
            tasks.append(task)
            task = task.recovery_task
        return tasks

    def spec(self):
        """The scheduling metadata for the controller (plain JSON)."""
        return {
            "kind": self.kind,
            "retries": self.retries,
            "has_depend": self.depend is not None,
            "after": self.after.as_wire() if self.after is not None else None,
            "follow": self.follow.as_wire() if self.follow is not None else None,
            "timeout": self.timeout,
        }

    def __getstate__(self):
        state = dict(self.__dict__)
        state["recovery_task"] = None  # each task of a chain travels on its own
        return state


def _names(pull):
    if pull is None:
        return []
    if isinstance(pull, str):
        return [pull]
    if isinstance(pull, (list, tuple)) and all(isinstance(k, str) for k in pull):
        return list(pull)
    raise TypeError(f"pull must be a name or a list of names, not {pull!r}")


class StringTask(BaseTask):
    """Push ``push`` (a dict), execute ``expression`` (code), pull the names in ``pull``."""

    kind = "string"

    def __init__(self, expression, pull=None, push=None, **options):
        if not isinstance(expression, str):
            raise TypeError(f"expression must be a str of code, not {type(expression).__name__}")
        if push is not None and not isinstance(push, dict):
            raise TypeError(f"push must be a dict, not {type(push).__name__}")
        self.pull = _names(pull)
        super().__init__(**options)
        self.expression = expression
        self.push = dict(push or {})

    def run_on(self, interpreter):
        if self.push:
            interpreter.push(self.push)
        interpreter.execute(self.expression)
        return {name: interpreter.pull(name) for name in self.pull}

    def __repr__(self):
        return f"StringTask({self.expression!r}, pull={self.pull!r})"


class MapTask(BaseTask):
    """Call ``function(*args, **kwargs)`` on an engine; the result is its return value.

    A function that travels by value (defined in a script or interactively)
    looks its global names up in the engine's namespace, as ``mec.map``'s
    and pushed functions do (``kernel.engine.interpreter.rebind``): it sees
    the engine's ``id`` and values pushed with the multiengine client, and
    what it used here is added where the name is still free.
    """

    kind = "map"

    def __init__(self, function, args=None, kwargs=None, **options):
        if not callable(function):
            raise TypeError(f"function must be callable, not {type(function).__name__}")
        if args is not None and not isinstance(args, (list, tuple)):
            raise TypeError(f"args must be a tuple or list, not {type(args).__name__}")
        if kwargs is not None and not isinstance(kwargs, dict):
            raise TypeError(f"kwargs must be a dict, not {type(kwargs).__name__}")
        super().__init__(**options)
        self.function = function
        self.args = tuple(args or ())
        self.kwargs = dict(kwargs or {})

    def run_on(self, interpreter):
        return _on_engine(self.function, interpreter)(*self.args, **self.kwargs)

    def __repr__(self):
        return f"MapTask({getattr(self.function, '__name__', self.function)!r})"


def _on_engine(func, interpreter):
    """``func`` ready to run on the engine of ``interpreter``: the engine's one rule
    (``Interpreter.adopt``), applied to each function a ``dependent`` wraps."""
    if isinstance(func, dependent):
        return dependent(_on_engine(func.f, interpreter), _on_engine(func.g, interpreter),
                         *func.dargs, **func.dkwargs)
    return interpreter.adopt(func)


class ResultNS:
    """Attribute (and item) access to a task's pulled names: ``tr.ns.a``, ``tr.ns['a']``."""

    def __init__(self, results):
        self.__dict__.update(results)

    def __getitem__(self, key):
        return self.__dict__[key]

    def __repr__(self):
        return f"NS{self.__dict__!r}"


def _stamp(seconds):
    return None if seconds is None else time.strftime(TIME_FORMAT, time.localtime(seconds))


class TaskResult:
    """What a StringTask produced, with where and when it ran.

    ``results`` is the dict of pulled names (``{}`` on failure); ``failure``
    the remote exception (None on success); ``engineid`` the engine of the
    last attempt; ``submitted`` / ``completed`` the times the controller took
    and finished the task, as ``'YYYY/MM/DD HH:MM:SS'`` strings (the seconds
    since the epoch are ``submitted_at`` / ``completed_at``); ``start`` /
    ``stop`` the engine's clock around the last attempt (None if it never
    ran) and ``duration`` their difference in seconds.
    """

    def __init__(self, taskid, results=None, failure=None, engineid=None,
                 submitted=None, completed=None, start=None, stop=None):
        self.taskid = taskid
        self.results = dict(results) if results is not None else {}
        self.failure = failure
        self.engineid = engineid
        self.submitted_at = submitted
        self.completed_at = completed
        self.submitted = _stamp(submitted)
        self.completed = _stamp(completed)
        self.start = start
        self.stop = stop
        if start is not None and stop is not None:
            self.duration = stop - start
        elif submitted is not None and completed is not None:
            self.duration = completed - submitted
        else:
            self.duration = None
        self.keys = list(self.results)
        self._ns = ResultNS(self.results)

    @property
    def ns(self):
        """The pulled names as attributes; raises the task's exception if it failed."""
        self.raise_exception()
        return self._ns

    @ns.setter
    def ns(self, value):
        raise AttributeError("the ns attribute cannot be changed")

    def raise_exception(self):
        """Raise the task's exception if it failed; do nothing if it succeeded."""
        if self.failure is not None:
            raise self.failure

    def __getitem__(self, key):
        self.raise_exception()
        return self.results[key]

    def __repr__(self):
        if self.failure is not None:
            return f"TaskResult[ID:{self.taskid}]:{type(self.failure).__name__}({self.failure})"
        return f"TaskResult[ID:{self.taskid}]:{self.results!r}"


# -- functional dependencies (0.11 seed) ---------------------------------------------


class dependent:
    """``f`` wrapped so that it raises UnmetDependency where ``g(*dargs, **dkwargs)`` is False.

    The task then goes to another engine (never back to this one). Like ``f``,
    ``g`` runs on the engine.
    """

    def __init__(self, f, g, *dargs, **dkwargs):
        if not callable(f) or not callable(g):
            raise TypeError("dependent(f, g, ...) needs two callables")
        self.f = f
        self.g = g
        self.dargs = dargs
        self.dkwargs = dkwargs
        for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
            try:
                setattr(self, attr, getattr(f, attr))
            except AttributeError:
                pass

    def __call__(self, *args, **kwargs):
        if self.g(*self.dargs, **self.dkwargs) is False:
            name = getattr(self.g, "__name__", repr(self.g))
            raise UnmetDependency(f"{name}{self.dargs!r} is False on this engine")
        if isinstance(self.g, _Requirement):
            self.g.provide(getattr(self.f, "__globals__", None))
        return self.f(*args, **kwargs)


def depend(g, *dargs, **dkwargs):
    """Decorator: run the function only where ``g(*dargs, **dkwargs)`` is not False."""
    return lambda f: dependent(f, g, *dargs, **dkwargs)


class _Requirement:
    """True where every named module imports."""

    __name__ = "require"

    def __init__(self, names):
        self.names = names

    def __call__(self):
        for name in self.names:
            try:
                importlib.import_module(name)
            except ImportError:
                return False
        return True

    def provide(self, scope):
        """Bind the modules' top-level names in the function's globals, as ``import x.y`` would."""
        if scope is not None:
            for name in self.names:
                top = name.partition(".")[0]
                scope.setdefault(top, importlib.import_module(top))

    def __repr__(self):
        return f"require{tuple(self.names)!r}"


def require(*names):
    """Decorator: run the function only on engines where these modules import.

    The modules are imported there before the function runs, so it may use
    them by name.
    """
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"require takes module names, not {name!r}")
    return lambda f: dependent(f, _Requirement(list(names)))
