"""Raise an exception in another thread: the one CPython-specific call the engines make.

Why it exists: a POSIX signal reaches Python code only on the main thread, so
a process engine, whose user code runs there, is interrupted with a real
SIGINT and never comes here. A ``ThreadEngine`` (``inprocess``: tests, and
trying the cluster out without processes) runs user code on a thread of its
own, and the only way to stop Python code on another thread is CPython's
``PyThreadState_SetAsyncExc``. It is in the C API, not the Python one, so it
is reached through ``ctypes`` and its signature is CPython's to change (the
thread id became ``unsigned long`` in 3.7). ``tests/unit/test_asyncexc.py``
fails if a Python release breaks it.

The exception is raised when the thread next runs Python bytecode: a loop is
stopped at once, a long blocking C call (one ``time.sleep(100)``) only once it
returns.
"""

import ctypes

# The same C function, typed once to raise an exception type and once to clear (NULL).
_set = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi))
_unset = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi))


def raise_in(thread_id, exc_type):
    """Have thread ``thread_id`` raise ``exc_type`` at its next bytecode; False if no such thread."""
    return _set(thread_id, exc_type) == 1


def clear(thread_id):
    """Drop an exception set by :func:`raise_in` that the thread has not raised yet."""
    _unset(thread_id, None)
