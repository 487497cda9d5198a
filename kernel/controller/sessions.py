"""What the client sessions of the controller's interfaces have in common."""

from kernel.errors import ProtocolError


class Session:
    """A client connection whose requests are dispatched by ``op`` to ``self.handlers``.

    Each handler is called as ``handler(rid, header, buffers)``. An unknown
    ``op`` or a ProtocolError from a handler is the client's fault and is
    raised (the connection drops it); exceptions of the ``answered`` types are
    passed to :meth:`answer_error` to become an error reply instead.
    """

    kind = "session"  # names the interface in the unknown-message error
    answered = ()

    def message(self, header, buffers):
        handler = self.handlers.get(header["op"])
        if handler is None:
            raise ProtocolError(f"unknown {self.kind} message {header['op']!r}")
        rid = header.get("rid")
        try:
            handler(rid, header, buffers)
        except ProtocolError:
            raise
        except self.answered as e:
            self.answer_error(rid, header, e)

    def answer_error(self, rid, header, e):
        """Reply to request ``rid`` with the error ``e``."""
        raise NotImplementedError
