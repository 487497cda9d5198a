"""What the client sessions of the controller's interfaces have in common: one error channel.

Each request is decoded through its interface's ``Channel`` (``kernel.wire.
messages``) and handed to the session method marked as its responder, as
``handler(rid, header, buffers)``. What comes back to the client:

- a request that does not match its declaration, or whose buffers do not
  match its counts: an ``error`` reply with ``BadRequest`` naming the field
  (a message that is no declared request with a usable ``rid`` is a
  ``ProtocolError``, and the connection closes);
- a ``KernelError`` raised by the handler (what the caller did wrong, in our
  own types: ``NoSuchTask``, ``InvalidEngineID``...): an ``error`` reply with
  its type and message;
- anything else is a fault of the controller's own: logged with its
  traceback, answered as ``InternalError``, and the controller goes on.
"""

from twisted.logger import Logger

from kernel.errors import BadRequest, InternalError, KernelError, MessageSizeError, ProtocolError
from kernel.wire.messages import Error


class Session:
    """A client connection; subclasses set ``channel`` and mark their responders."""

    log = Logger()
    channel = None

    def __init__(self, protocol):
        self.protocol = protocol
        self.handlers = self.channel.responders(self)

    def send(self, header, buffers=()):
        """Send an answer; one that cannot be encoded fails its request alone, with MessageSizeError."""
        try:
            self.protocol.send(header, buffers)
        except MessageSizeError as e:
            if header.get("op") == Error.op or header.get("rid") is None:
                raise
            self.log.warn("cannot send the answer to request {rid}: {e}", rid=header["rid"], e=e)
            self.answer_error(header["rid"], MessageSizeError(f"the answer to this request cannot be sent: {e}"))

    def message(self, header, buffers):
        try:
            message = self.channel.decode(header)
        except ProtocolError as e:
            rid = header.get("rid")
            if type(rid) is not int or rid < 0 or header.get("op") not in self.channel.messages:
                raise  # not a request that can be answered: the connection closes
            self.answer_error(rid, BadRequest(str(e)))
            return
        self.answering(header["rid"], message.op, lambda: self.handlers[message](header["rid"], header, buffers))

    def answering(self, rid, op, work):
        """Do ``work()`` for request ``rid``, answering what it raises as this module says.

        Also for work that goes on later, when what a request waits for comes.
        """
        try:
            work()
        except ProtocolError as e:
            self.answer_error(rid, BadRequest(str(e)))
        except KernelError as e:
            self.answer_error(rid, e)
        except Exception as e:
            self.log.failure("{channel} request {op} failed", channel=self.channel.name, op=op)
            self.answer_error(rid, InternalError(
                f"the controller failed on this {op!r} request ({type(e).__name__}: {e}); "
                "the traceback is in its log"))

    def answer_error(self, rid, e):
        """Reply to request ``rid`` with the error ``e``."""
        message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        self.send(Error.header(rid=rid, etype=type(e).__name__, message=message))
