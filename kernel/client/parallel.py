"""Functions that map in parallel: what ``@mec.parallel()`` and ``@tc.parallel()`` make.

As in 0.10, ``parallel()`` returns a ``ParallelFunction(mapper)``: the
decorator itself, wrapping a function around a mapper (anything with
``map(func, *sequences)``: a ``MultiEngineMapper``, a ``TaskMapper`` or their
asynchronous counterparts). The function it gives back is a ``MappedFunction``.
"""

import inspect


class MappedFunction:
    """``f(*seqs)`` becomes ``mapper.map(f, *seqs)``."""

    def __init__(self, func, mapper):
        self.func = func
        self.mapper = mapper
        named = isinstance(func, str)  # a function defined on the engines
        self.__name__ = func if named else getattr(func, "__name__", "parallel_function")
        self.__doc__ = None if named else func.__doc__
        self.__wrapped__ = func
        try:
            self.__signature__ = inspect.signature(func)
        except (TypeError, ValueError):
            pass

    def __call__(self, *sequences):
        return self.mapper.map(self.func, *sequences)

    def __repr__(self):
        return f"<MappedFunction {self.__name__}>"


class TaskMappedFunction(MappedFunction):
    """``f(*seqs)`` and ``f.map(*seqs)``: a load-balanced map of f."""

    def map(self, *sequences):
        return self.mapper.map(self.func, *sequences)


class ParallelFunction:
    """0.10's ``ParallelFunction(mapper)``: ``pf(f)`` is f mapped in parallel by ``mapper``."""

    wraps = MappedFunction

    def __init__(self, mapper):
        self.mapper = mapper
        self.func = None

    def __call__(self, func):
        if not (callable(func) or isinstance(func, str)):
            raise TypeError(f"parallel() decorates a function (or the name of one on the engines), "
                            f"not {type(func).__name__}")
        self.func = func  # as 0.10 kept it
        return self.wraps(func, self.mapper)

    def __repr__(self):
        return f"<{type(self).__name__} over {self.mapper!r}>"


class TaskParallelFunction(ParallelFunction):
    """``@tc.parallel()``: the function it gives also has ``f.map(*seqs)``."""

    wraps = TaskMappedFunction
