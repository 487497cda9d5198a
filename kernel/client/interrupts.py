"""Ctrl-C during a blocking call stops that call's work on the engines too.

Ctrl-C raises KeyboardInterrupt in the client wherever it waits. Left there,
the engines would go on computing what nobody waits for any more, and a
``while True`` would keep its engine busy for good. So, where the clients
wait on a call (a blocking multiengine call, ``PendingResult.get_result``,
``mec.barrier``, ``tc.map``, ``tc.barrier``), a KeyboardInterrupt first asks
the controller to stop what was waited for, then goes on up:

- multiengine calls (``stop_calls``): each command of theirs that an engine
  runs is interrupted (the engine lives on, its namespace intact), and those
  still queued are taken back;
- tasks (``stop_tasks``): each one not finished is aborted (its result is
  TaskAborted, it is not retried) and the engines running one are interrupted.

The request is sent on the client's own connection, after the call it
stops, and its answer is awaited for at most ``STOP_WAIT`` seconds (a second
Ctrl-C gives up at once). If it cannot be delivered, a RuntimeWarning says
so. The ``client.forward_interrupts`` setting turns all this off.
"""

import contextlib
import warnings

from kernel import config, errors, paths
from kernel.wire import messages

STOP_WAIT = 10.0  # seconds to wait for the controller to confirm


def enabled():
    """Whether Ctrl-C is forwarded: the ``client.forward_interrupts`` setting (read when it happens)."""
    try:
        return config.load(paths.ipython_dir(), "client").forward_interrupts
    except config.ConfigError as e:
        warnings.warn(f"Ctrl-C is not forwarded to the engines: {e}", RuntimeWarning, stacklevel=4)
        return False


def stop_calls(connection, rids):
    """After Ctrl-C: stop the multiengine calls ``rids`` of ``connection`` where they run or wait."""
    if rids:
        _ask(connection, messages.StopCalls.header(calls=list(rids)), "the engines' commands")


def stop_tasks(connection, taskids):
    """After Ctrl-C: abort the tasks ``taskids`` not finished, interrupting those running."""
    if taskids:
        _ask(connection, messages.StopTasks.header(taskids=list(taskids)), "the tasks")


def _ask(connection, header, what):
    if not enabled():
        return
    try:
        connection.call(header, timeout=STOP_WAIT)
    except (errors.KernelError, OSError) as e:
        warnings.warn(f"Ctrl-C could not stop {what}: {e}", RuntimeWarning, stacklevel=4)


def stopping_calls(connection, rids):
    """A block whose KeyboardInterrupt also stops the calls ``rids`` (``stop_calls``)."""
    return _stopping(stop_calls, connection, rids)


def stopping_tasks(connection, taskids):
    """A block whose KeyboardInterrupt also stops ``taskids`` (``stop_tasks``)."""
    return _stopping(stop_tasks, connection, taskids)


@contextlib.contextmanager
def _stopping(stop, connection, ids):
    try:
        yield
    except KeyboardInterrupt:
        stop(connection, ids)
        raise
