"""What every engine does with the controller's messages, whatever thread runs its commands.

The network (the connector, the TLS connection, heartbeats) runs on the
reactor's thread. Commands reach the thread that runs them through the
``inbox``, in order: in an engine process (``runner.Engine``) that is the
reactor's own thread, right after the read that brought them, with a
stand-in thread serving the connection while they run long; in a
``ThreadEngine`` (``inprocess``) a thread of the current process, beside a
reactor that runs in another. Either way heartbeats, interrupts, cancels
and the rest of a big reply keep flowing however long a command computes,
GIL held or not: the thread that serves the connection gets the GIL back
every switch interval (5 ms).

A reply is sent by the thread that ran its command, on the connection the
command came on (``FramedProtocol.send_from_thread``): under the
connection's lock, straight to the socket when nothing waits before it. A
command or reply whose connection was lost meanwhile is dropped.

Every message from the controller is decoded through ``messages.TO_ENGINE``
(checked against its declaration) and handed to the method marked as its
responder, as the controller's sessions do with theirs; the connection's own
messages (``registered``, ``hb``, ``refused``) go on to the connector. One
that fails its check never stops the engine: a ``call`` with a usable ``cid``
is answered with a BadRequest naming the field, so its caller is not left
waiting; a malformed ``registered`` drops the connection (the engine
registers again); anything else is logged and ignored, an unknown op too (a
newer controller may send one).

Both kinds keep the same books: which commands were cancelled before they
started, and what a ``kill`` or a refusal means. A subclass says how an
interrupt reaches the command's thread (:meth:`interrupt`), how a command
is run (``_dispatch``), and gives the ``inbox`` (anything with ``put``)
whose items its command thread hands to ``_handle``.
"""

from twisted.logger import Logger

from kernel.engine import capture, replies
from kernel.engine.connector import EngineConnector
from kernel.engine.interpreter import Interpreter
from kernel.engine.outputstream import OutputStream
from kernel.errors import BadRequest, CapabilityRefused, ProtocolError, QueueCleared
from kernel.values import is_int
from kernel.wire import messages
from kernel.wire.messages import responder

STOP = object()  # the item that ends a command loop


class EngineCore:
    log = Logger()
    channel = messages.TO_ENGINE

    def __init__(self, reactor, furl_source, mpi=None, desired_id=None, **connector_options):
        self.reactor = reactor
        self.interpreter = Interpreter(mpi=mpi)
        self.connector = EngineConnector(reactor, furl_source, self, desired_id=desired_id, **connector_options)
        self.cancelled = set()
        self.last_started = 0  # cids grow: a cancel for an older one comes too late
        self.interrupted = None  # the cid an interrupt named: stopped as it starts, if it had not
        self.exit_reason = None
        self.exit_code = 0
        self.memory = None  # a kernel.engine.memory.MemoryWatch, under ipengine --memory-limit
        self.stream = None  # the running command's OutputStream, if it streams its output
        self.handlers = self.channel.responders(self)

    def interrupt(self):
        """Stop the running command with a KeyboardInterrupt; nothing between commands. Any thread may call it."""
        raise NotImplementedError

    # -- from the connector, on the reactor's thread ------------------------------------

    def on_registered(self, engine_id):
        self.last_started = 0  # a new controller numbers its commands afresh
        self.interrupted = None
        self.cancelled.clear()
        self.inbox.put(("set_id", engine_id))

    def on_stopped(self, error):
        self.exit_reason = error
        self.exit_code = 1
        self.inbox.put(STOP)

    def on_read_done(self):
        """The messages of one read have all been handed to ``on_message``; this core has nothing to do then."""

    def on_message(self, header, buffers):
        """A message from the controller: decoded, then handed to its responder."""
        try:
            message = self.channel.decode(header)
        except ProtocolError as e:
            self._malformed(header, e)
            return
        self.handlers[message](header, buffers)

    def _malformed(self, header, error):
        """A message that failed its check: answered if it is a call we can name, else logged and dropped."""
        op = header.get("op")
        if op not in self.channel.messages:
            self.log.warn("ignoring a message from the controller: {error}", error=error)
            return
        cid = header.get("cid")
        if op == messages.Call.op and is_int(cid) and cid >= 1:
            self.log.error("refusing call {cid} from the controller: {error}", cid=cid, error=error)
            method = header.get("method")
            stub = {"cid": cid, "method": method if type(method) is str and len(method) <= 64 else None}
            self.inbox.put(("refuse", (self.connector.protocol, stub, error)))
        elif op == messages.Registered.op:  # no id to work under: register again
            self.log.error("dropping the connection to the controller: {error}", error=error)
            self.connector.drop(ProtocolError(f"the controller's answer to registering is malformed: {error}"))
        else:
            self.log.error("ignoring a malformed message from the controller: {error}", error=error)

    @responder(messages.Call)
    def _on_call(self, header, buffers):  # with the connection to answer on: the one whose message this is
        self.inbox.put(("call", (self.connector.protocol, header, buffers)))

    @responder(messages.Interrupt)
    def _on_interrupt(self, header, buffers):
        """Interrupt the command running now; with ``cid``, only that one (as it starts, if it has not)."""
        cid = header.get("cid")
        if cid is not None:
            self.interrupted = cid  # before last_started is read: see stop_if_interrupted
            if cid != self.last_started:
                return  # not started yet (stop_if_interrupted stops it), or finished
        self.interrupt()

    @responder(messages.Cancel)
    def _on_cancel(self, header, buffers):  # only commands not started yet can be cancelled
        self.cancelled.update(c for c in header["cids"] if c > self.last_started)

    @responder(messages.Bye)
    def _on_bye(self, header, buffers):
        self.log.info("the controller is shutting down")

    @responder(messages.Registered)
    def _on_registered(self, header, buffers):
        self.connector.registered(header)

    @responder(messages.Heartbeat)
    def _on_heartbeat(self, header, buffers):
        self.connector.beat(header)

    @responder(messages.Refused)
    def _on_refused(self, header, buffers):
        self.connector.drop(CapabilityRefused(header["error"]))

    @responder(messages.Welcome)
    def _on_welcome(self, header, buffers):  # the connection's first message; the protocol took that one
        self.log.warn("ignoring a second welcome from the controller")

    # -- on the thread that runs commands -------------------------------------------

    def stop_if_interrupted(self, header):
        """KeyboardInterrupt if an interrupt named this command; called once its thread takes
        interrupts (``busy``), so one that came just before it started is not missed."""
        if self.interrupted is not None and header["cid"] == self.interrupted:
            raise KeyboardInterrupt("interrupted by the controller")

    def _handle(self, item):
        """Act on one queued item; False once the loop is to end."""
        if item is STOP:
            return False
        kind, value = item
        if kind == "set_id":
            self.interpreter.set_id(value)
            return True
        protocol, header, more = value
        if not protocol.connected:  # the controller that sent it is gone, or has forgotten it
            return True
        if kind == "call":
            self._call(protocol, header, more)
        else:  # "refuse": a call that failed its check, answered in its turn
            protocol.send_from_thread(*replies.failure(header, BadRequest(
                f"engine {self.interpreter.engine_id} cannot run this call: {more}")))
        return True

    def _call(self, protocol, header, buffers):
        self.last_started = max(self.last_started, header["cid"])
        if self._drop_if_cancelled(protocol, header):
            return
        if self.memory is not None:
            self.memory.begin()
        if header.get("stream"):
            self.stream = OutputStream(self.reactor, protocol, header["cid"])
            try:
                with capture.streaming(self.stream):
                    reply, out = self._dispatch(header, buffers)
            finally:
                self.stream = None
        else:
            reply, out = self._dispatch(header, buffers)
        if self.memory is not None:
            reply, out = self.memory.end(header, reply, out)
        protocol.send_from_thread(reply, out)
        if header["method"] == "kill":
            self.inbox.put(STOP)

    def _drop_if_cancelled(self, protocol, header):
        """Reply QueueCleared and return True if this command was cancelled before it started."""
        if header["cid"] not in self.cancelled:
            return False
        self.cancelled.discard(header["cid"])
        protocol.send_from_thread(*replies.failure(header, QueueCleared(
            f"{header['method']} was removed from engine {self.interpreter.engine_id}'s queue")))
        return True
