"""Functions that map in parallel: what ``@mec.parallel()`` and ``@tc.parallel()`` return.

Both clients' decorators wrap the function around a mapper (anything with
``map(func, *sequences)``): a ``MultiEngineMapper``, a ``TaskMapper`` or their
asynchronous counterparts.
"""

import inspect


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


class TaskParallelFunction(ParallelFunction):
    """``f(*seqs)`` and ``f.map(*seqs)``: a load-balanced map of f."""

    def map(self, *sequences):
        return self.mapper.map(self.func, *sequences)
