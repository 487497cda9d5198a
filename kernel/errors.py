"""The exception types of kernel, one per distinct cause.

Remote exceptions keep their own type; these name what went wrong in the
cluster itself. Every name of 0.10's ``IPython.kernel.error`` is defined here
once (``IPython.kernel.error`` lists them, with the two renamed ones and
CompositeError), so a legacy ``except`` clause catches what kernel raises.
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


class MessageSizeError(KernelError):
    """A message whose JSON header is over the wire's limit (buffers have none): that one call fails."""


class BadRequest(KernelError, ValueError):
    """A request whose fields do not match its declaration (``kernel.wire.messages``)."""


class InternalError(KernelError):
    """The controller failed on a request through a fault of its own (logged there with its traceback)."""


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


class MemoryLimitError(EngineError, MemoryError):
    """The engine grew past its memory limit (``ipengine --memory-limit``) while running the command."""


class QueueCleared(EngineError):
    """The command was removed from the engine's queue by clear_queue."""


class ResultNotCompleted(KernelError):
    """A non-blocking result was asked for before it was ready."""


class ResultAlreadyRetrieved(KernelError):
    """The result was already fetched and freed."""


class InvalidDeferredID(KernelError):
    """The pending result was flushed (or already fetched) and can no longer be fetched."""


class NotAPendingResult(KernelError, TypeError):
    """barrier() was given something that is not a PendingResult."""


class AbortedPendingDeferredError(KernelError):
    """A Deferred waiting for a pending result was dropped by clear_pending_deferreds()."""


class MissingBlockArgument(KernelError, ValueError):
    """A call had no ``block`` to go by: the argument was None and so was the client's ``block``."""


class StopLocalExecution(KernelError):
    """Raised by ``remote()`` so that the body of ``with mec:`` does not run locally."""


class SerializationError(KernelError, TypeError):
    """A value cannot be pickled to be sent; the message names it."""


class InvalidProperty(KernelError):
    """A property value cannot be stored (for example, it cannot be pickled)."""


class TaskError(KernelError):
    """Base for errors about tasks."""


class TaskAborted(TaskError):
    """The task was aborted before it finished."""


class TaskTimeout(TaskError):
    """A task waited longer than its timeout (0.10: for unmet dependencies)."""


class StaleLease(TaskError):
    """Task ids leased from a task store that is gone (``ipcontroller --reset-db``): refused, never reused."""


class NoSuchTask(TaskError, KeyError, IndexError):
    """A task id the controller never gave out.

    A KeyError, as 0.10's ``clear()`` raised, and an IndexError, as lookups
    of unknown ids raise.
    """


class TaskAlreadyFinished(TaskError, IndexError):
    """The task has finished (or was aborted) already, so it cannot be aborted."""


class TaskNotFinished(TaskError, IndexError):
    """The task has not finished yet, and the call needs one that has."""


class UnmetDependency(TaskError):
    """Raised by a task to say this engine cannot run it; it goes to another."""


TaskRejectError = UnmetDependency  # the legacy name


class ImpossibleDependency(UnmetDependency):
    """The task's dependencies can never be met."""


class DependencyTimeout(ImpossibleDependency, TaskTimeout):
    """No engine could take the task before its timeout."""


class PoisonTask(TaskError):
    """The task killed too many engines and was not retried."""


class KernelRemoteError(KernelError):
    """Stands in for a remote exception whose type cannot be rebuilt here."""


# Names 0.10 defined that nothing here raises: kept so legacy code that names them still runs.

class NotDefined(KernelError):
    """0.10's stand-in for a name missing on an engine (a pull now raises NameError)."""

    def __init__(self, name):
        super().__init__(name)
        self.name = name

    def __repr__(self):
        return f"<NotDefined: {self.name}>"

    __str__ = __repr__


class IdInUse(KernelError):
    """0.10: an engine id already taken (ids are now always given by the controller)."""


class InvalidClientID(KernelError):
    """0.10: an unknown client id (clients now hold capabilities, not ids)."""


class ClientError(KernelError):
    """0.10: a generic client-side error."""


class PBMessageSizeError(MessageSizeError):
    """0.10: a message over Foolscap's size limit."""


class FileTimeoutError(KernelError, TimeoutError):
    """0.10: ipcluster gave up waiting for a FURL file."""


BY_NAME = {name: value for name, value in globals().items()
           if isinstance(value, type) and issubclass(value, KernelError)}


def by_name(name, default=KernelError):
    """The error type of this module called ``name``: errors cross the wire by name, through this table."""
    return BY_NAME.get(name, default) if isinstance(name, str) else default
