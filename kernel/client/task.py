"""Tasks for the load-balanced interface: StringTask, MapTask and their results.

A task is pickled whole by the client and unpickled only by the engine that
runs it: ``run_on(interpreter)`` is called there. The scheduling options
(retries, recovery_task, after/follow, timeout, and whether a ``depend``
predicate exists) are sent beside it as plain data, because the controller
never unpickles anything.
"""

import functools
import importlib

from kernel.errors import UnmetDependency

class Dependency(set):
    """A set of task ids with the 0.11 switches: ``all``, ``success``, ``failure``."""

    def __init__(self, ids=(), all=True, success=True, failure=False):
        ids = [ids] if isinstance(ids, int) else list(ids)
        for i in ids:
            if not isinstance(i, int) or isinstance(i, bool):
                raise TypeError(f"a Dependency holds task ids (ints), not {i!r}")
        if not (success or failure):
            raise ValueError("a Dependency must count success, failure or both")
        super().__init__(ids)
        self.all = all
        self.success = success
        self.failure = failure

    def as_wire(self):
        return {"ids": sorted(self), "all": self.all, "success": self.success, "failure": self.failure}


def _dependency(value, name):
    if value is None or isinstance(value, Dependency):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Dependency([value])
    if isinstance(value, (list, tuple, set, frozenset)):
        return Dependency(value)
    raise TypeError(f"{name} must be a task id, a list of task ids or a Dependency, not {type(value).__name__}")


class BaseTask:
    """The options both kinds of task share."""

    kind = None

    def __init__(self, clear_before=False, clear_after=False, retries=0, recovery_task=None,
                 depend=None, after=None, follow=None, timeout=None):
        if not isinstance(clear_before, bool):
            raise TypeError("clear_before must be True or False")
        if not isinstance(clear_after, bool):
            raise TypeError("clear_after must be True or False")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise TypeError(f"retries must be a non-negative int, not {retries!r}")
        if recovery_task is not None and not isinstance(recovery_task, BaseTask):
            raise TypeError(f"recovery_task must be a StringTask or MapTask, not {type(recovery_task).__name__}")
        if depend is not None and not callable(depend):
            raise TypeError("depend must be a function of the engine's properties dict")
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
            raise TypeError(f"timeout must be a non-negative number of seconds, not {timeout!r}")
        self.clear_before = clear_before
        self.clear_after = clear_after
        self.retries = retries
        self.recovery_task = recovery_task
        self.depend = depend
        self.after = _dependency(after, "after")
        self.follow = _dependency(follow, "follow")
        self.timeout = timeout or None

    def chain(self):
        """This task and its recovery tasks in order; a loop is refused."""
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


class StringTask(BaseTask):
    """Push ``push``, execute ``expression``, pull the names in ``pull``."""

    kind = "string"

    def __init__(self, expression, pull=None, push=None, **options):
        if not isinstance(expression, str):
            raise TypeError(f"expression must be a str of code, not {type(expression).__name__}")
        if pull is not None and not isinstance(pull, (str, list, tuple)):
            raise TypeError("pull must be a name or a list of names")
        if isinstance(pull, (list, tuple)) and not all(isinstance(k, str) for k in pull):
            raise TypeError("pull must be a name or a list of names")
        if push is not None and not isinstance(push, dict):
            raise TypeError(f"push must be a dict, not {type(push).__name__}")
        super().__init__(**options)
        self.expression = expression
        self.pull = [pull] if isinstance(pull, str) else list(pull or [])
        self.push = dict(push or {})

    def run_on(self, interpreter):
        interpreter.push(self.push)
        interpreter.execute(self.expression)
        return {name: interpreter.pull(name) for name in self.pull}

    def __repr__(self):
        return f"StringTask({self.expression!r}, pull={self.pull!r})"


class MapTask(BaseTask):
    """Call ``function(*args, **kwargs)`` on an engine."""

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
        return self.function(*self.args, **self.kwargs)

    def __repr__(self):
        return f"MapTask({getattr(self.function, '__name__', self.function)!r})"


class ResultNS:
    """Attribute access to a task's pulled names: ``tr.ns.a``."""

    def __init__(self, results):
        self.__dict__.update(results)

    def __repr__(self):
        return f"ResultNS({self.__dict__!r})"


class TaskResult:
    """What a StringTask produced, with where and when it ran."""

    def __init__(self, taskid, results=None, failure=None, engineid=None,
                 submitted=None, completed=None, started=None, finished=None):
        self.taskid = taskid
        self.results = results if results is not None else {}
        self.failure = failure
        self.engineid = engineid
        self.submitted = submitted
        self.completed = completed
        self.duration = (finished - started) if started is not None and finished is not None else (
            (completed - submitted) if completed is not None and submitted is not None else None)
        self.keys = list(self.results)
        self._ns = ResultNS(self.results)

    @property
    def ns(self):
        if self.failure is not None:
            raise self.failure
        return self._ns

    def raise_exception(self):
        if self.failure is not None:
            raise self.failure

    def __getitem__(self, key):
        if self.failure is not None:
            raise self.failure
        return self.results[key]

    def __repr__(self):
        if self.failure is not None:
            return f"TaskResult[ID:{self.taskid}]:{type(self.failure).__name__}: {self.failure}"
        return f"TaskResult[ID:{self.taskid}]:{self.results!r}"


# -- functional dependencies (0.11 seed) ---------------------------------------------


class dependent:
    """``f`` wrapped so that it raises UnmetDependency where ``g(*args)`` is False."""

    def __init__(self, f, g, *dargs, **dkwargs):
        self.f = f
        self.g = g
        self.dargs = dargs
        self.dkwargs = dkwargs
        functools.update_wrapper(self, f)

    def __call__(self, *args, **kwargs):
        if self.g(*self.dargs, **self.dkwargs) is False:
            raise UnmetDependency(f"{getattr(self.g, '__name__', self.g)} is False on this engine")
        return self.f(*args, **kwargs)


def depend(g, *dargs, **dkwargs):
    """Decorator: run the function only where ``g(*dargs, **dkwargs)`` is not False."""
    return lambda f: dependent(f, g, *dargs, **dkwargs)


def _importable(*names):
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            return False
    return True


def require(*names):
    """Decorator: run the function only on engines where these modules import."""
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"require takes module names, not {name!r}")
    return depend(_importable, *names)
