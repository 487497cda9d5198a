"""The public facade: ``from kernel import client`` (also ``from IPython.kernel import client``).

``client.MultiEngineClient()`` and ``client.TaskClient()`` read their FURL
files from the security directory when called with no argument.
``kernel.client.asyncclient`` has the clients whose methods return Deferreds.
Beside the legacy calls: futures (a ``block=False`` call's PendingResult,
``tc.submit``, ``tc.future``; ``kernel.client.futures``) and executors
(``tc.executor()``, ``mec.executor()``; ``kernel.client.executor``).
"""

from kernel.client.multiengine import MultiEngineClient, MultiEngineMapper, ParallelFunction, remote
from kernel.client.remote import CompositeError
from kernel.client.results import PendingResult, ResultList
from kernel.client.task import (
    Dependency,
    MapTask,
    ResultNS,
    StringTask,
    TaskResult,
    depend,
    dependent,
    require,
)
from kernel.client.taskclient import TaskClient
from kernel.wire.byvalue import send_by_reference, send_by_value

Task = StringTask  # the 0.9 name
from kernel.errors import (
    BadFURLError,
    InvalidDeferredID,
    MissingBlockArgument,
    NoSuchTask,
    NotAPendingResult,
    StopLocalExecution,
    CapabilityRefused,
    DependencyTimeout,
    ImpossibleDependency,
    PoisonTask,
    TaskAborted,
    TaskRejectError,
    UnmetDependency,
    ConnectionLost,
    EngineDied,
    InvalidEngineID,
    KernelError,
    NoEnginesRegistered,
    QueueCleared,
    SerializationError,
    WrongKeyError,
)

__all__ = [
    "MultiEngineClient", "MultiEngineMapper", "ParallelFunction", "CompositeError",
    "NotAPendingResult", "PendingResult", "ResultList", "BadFURLError", "CapabilityRefused",
    "ConnectionLost", "EngineDied", "InvalidEngineID", "KernelError", "NoEnginesRegistered",
    "QueueCleared", "WrongKeyError", "TaskClient", "Task", "StringTask", "MapTask", "TaskResult",
    "ResultNS", "Dependency", "depend", "dependent", "require", "DependencyTimeout",
    "ImpossibleDependency", "PoisonTask", "TaskAborted", "TaskRejectError", "UnmetDependency",
    "remote", "StopLocalExecution", "InvalidDeferredID", "SerializationError",
    "send_by_value", "send_by_reference", "MissingBlockArgument", "NoSuchTask",
    "get_multiengine_client", "get_task_client",
]


def get_multiengine_client(furl_or_file=""):
    """0.10's factory: a connected MultiEngineClient (the default FURL file when empty)."""
    return MultiEngineClient(furl_or_file)


def get_task_client(furl_or_file=""):
    """0.10's factory: a connected TaskClient (the default FURL file when empty)."""
    return TaskClient(furl_or_file)
