"""Output a streamed command prints, on its way from its engine to the client whose call it is.

A multiengine ``call`` made with ``stream`` gets one ``OutputForwarder`` per
command: it passes each ``output`` message on to the calling client's
session, naming the call (``rid``) and the engine (``id``). While more than
``OUTPUT_BACKLOG`` bytes wait unsent to that client, it drops them instead,
so a client that reads slowly, or not at all, cannot make the controller
hold what engines print. The client sees the gap in the offsets; if the
command fails, whose result carries no copy of the text, a last empty
message at the end of each stream says how much went missing there.
"""

from kernel.wire import messages


class OutputForwarder:
    """The ``on_output`` of one streamed command of ``session``'s call ``rid``."""

    __slots__ = ("session", "rid", "gaps")

    def __init__(self, session, rid):
        self.session = session
        self.rid = rid
        self.gaps = {}  # stream name -> where the output dropped since the last one sent ends

    def __call__(self, eid, header, buffers):
        end = header["at"] + memoryview(buffers[0]).nbytes
        if self.session.protocol.get_write_buffer_size() > messages.OUTPUT_BACKLOG:
            self.gaps[header["name"]] = end
            return
        self.gaps.pop(header["name"], None)
        header.pop("cid", None)
        header["rid"] = self.rid
        header["id"] = eid
        self.session.send(header, buffers)

    def then(self, on_done):
        """``on_done``, after saying where dropped output ended if the reply has no text to show instead."""
        def done(eid, header, buffers):
            if self.gaps and header.get("status") != "ok":
                for name, end in self.gaps.items():
                    self.session.send(messages.Output.header(rid=self.rid, id=eid, name=name, at=end), [b""])
                self.gaps.clear()
            on_done(eid, header, buffers)

        return done
