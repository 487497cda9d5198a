"""The exception types of kernel, one per distinct cause.

Remote exceptions keep their own type; these name what went wrong in the
cluster itself.
"""


class KernelError(Exception):
    """Base class of every error kernel raises on its own behalf."""


class BadFURLError(KernelError, ValueError):
    """A FURL (or FURL file) is malformed; the message quotes the bad part."""


class SecurityError(KernelError):
    """A key or certificate problem, or a peer whose key is not the pinned one."""


class WrongKeyError(SecurityError):
    """The server presented a key whose hash is not the tub id in the FURL."""


class CapabilityRefused(KernelError):
    """The controller does not know the FURL's swissnum (no such capability)."""


class ConnectionLost(KernelError, ConnectionError):
    """The connection to the controller dropped; the call may simply be repeated."""


class ProtocolError(KernelError):
    """A peer sent bytes that are not a valid frame or message."""


class ControllerTimeout(KernelError, TimeoutError):
    """The controller did not answer within the configured time."""


class EngineError(KernelError):
    """Base for errors about engines."""


class InvalidEngineID(EngineError, ValueError):
    """A target names an engine id that is not registered."""


class NoEnginesRegistered(EngineError):
    """The call targets 'all' but no engine is registered."""


class EngineDied(EngineError):
    """The engine running the command went away."""


class QueueCleared(EngineError):
    """The command was removed from the engine's queue by clear_queue."""


class ResultNotCompleted(KernelError):
    """A non-blocking result was asked for before it was ready."""


class ResultAlreadyRetrieved(KernelError):
    """The result was already fetched and freed."""


class SerializationError(KernelError, TypeError):
    """A value cannot be pickled to be sent; the message names it."""


class InvalidProperty(KernelError):
    """A property value cannot be stored (for example, it cannot be pickled)."""


class TaskError(KernelError):
    """Base for errors about tasks."""


class TaskAborted(TaskError):
    """The task was aborted before it finished."""


class TaskTimeout(TaskError):
    """Waiting for a task's result timed out."""


class UnmetDependency(TaskError):
    """Raised by a task to say this engine cannot run it; it goes to another."""


TaskRejectError = UnmetDependency  # the legacy name


class ImpossibleDependency(UnmetDependency):
    """The task's dependencies can never be met."""


class DependencyTimeout(ImpossibleDependency):
    """No engine could take the task before its timeout."""


class PoisonTask(TaskError):
    """The task killed too many engines and was not retried."""


class KernelRemoteError(KernelError):
    """Stands in for a remote exception whose type cannot be rebuilt here."""
