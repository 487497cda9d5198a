"""0.10's ``IPython.kernel.error``: every name it had, each the object kernel itself raises.

Two are renamed in kernel: ``ConnectionError`` is ``ConnectionLost`` (which
is also the builtin ConnectionError) and ``UnpickleableException`` is
``KernelRemoteError`` (a remote exception whose type cannot be rebuilt here).
``TaskRejectError`` is ``UnmetDependency``.
"""

from kernel.client.asyncclient import collect_exceptions
from kernel.client.remote import CompositeError
from kernel.errors import (
    AbortedPendingDeferredError,
    ClientError,
    ConnectionLost as ConnectionError,
    FileTimeoutError,
    IdInUse,
    InvalidClientID,
    InvalidDeferredID,
    InvalidEngineID,
    InvalidProperty,
    KernelError,
    KernelRemoteError as UnpickleableException,
    MessageSizeError,
    MissingBlockArgument,
    NoEnginesRegistered,
    NotAPendingResult,
    NotDefined,
    PBMessageSizeError,
    ProtocolError,
    QueueCleared,
    ResultAlreadyRetrieved,
    ResultNotCompleted,
    SecurityError,
    SerializationError,
    StopLocalExecution,
    TaskAborted,
    TaskRejectError,
    TaskTimeout,
)

__all__ = [
    "KernelError", "NotDefined", "QueueCleared", "IdInUse", "ProtocolError", "ConnectionError",
    "InvalidEngineID", "NoEnginesRegistered", "InvalidClientID", "InvalidDeferredID",
    "SerializationError", "MessageSizeError", "PBMessageSizeError", "ResultNotCompleted",
    "ResultAlreadyRetrieved", "ClientError", "TaskAborted", "TaskTimeout", "NotAPendingResult",
    "UnpickleableException", "AbortedPendingDeferredError", "InvalidProperty",
    "MissingBlockArgument", "StopLocalExecution", "SecurityError", "FileTimeoutError",
    "TaskRejectError", "CompositeError", "collect_exceptions",
]
