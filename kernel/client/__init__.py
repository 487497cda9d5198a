"""The public facade: ``from kernel import client``.

``client.MultiEngineClient()`` and ``client.TaskClient()`` read their FURL
files from the security directory when called with no argument.
"""

from kernel.client.multiengine import MultiEngineClient, MultiEngineMapper, ParallelFunction
from kernel.client.remote import CompositeError
from kernel.client.results import NotAPendingResult, PendingResult, ResultList
from kernel.errors import (
    BadFURLError,
    CapabilityRefused,
    ConnectionLost,
    EngineDied,
    InvalidEngineID,
    KernelError,
    NoEnginesRegistered,
    QueueCleared,
    WrongKeyError,
)

__all__ = [
    "MultiEngineClient", "MultiEngineMapper", "ParallelFunction", "CompositeError",
    "NotAPendingResult", "PendingResult", "ResultList", "BadFURLError", "CapabilityRefused",
    "ConnectionLost", "EngineDied", "InvalidEngineID", "KernelError", "NoEnginesRegistered",
    "QueueCleared", "WrongKeyError",
]
