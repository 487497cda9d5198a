"""Every message of the protocol, declared once.

A message is a frame whose JSON header has ``"op"``. Each one is a class
here, as AMP declares its commands: its ``op``, its ``fields`` (checked where
the message is decoded, so the code behind a check may rely on the shapes it
promises), whether it carries buffers, and, for a request, the ``answer`` it
gets and the ``errors`` it may get instead. A ``Channel`` is what one kind of
peer may send on one interface; sessions are dispatched through it
(``Channel.responder``), and ``docs/protocol.md`` is written from these
declarations (``python -m kernel.wire.messages``).

Senders build headers with ``Message.header(**fields)``, so each ``op`` is
written only here.
"""

from kernel.errors import InvalidEngineID, NoEnginesRegistered, NoSuchTask, ProtocolError, StaleLease, TaskAborted
from kernel.versions import REVISIONS
from kernel.wire.fields import (Any, Bool, Choice, Either, Int, ListOf, MapOf, Number, Optional, Record, Str, compiled,
                                required)

LEASE_MAX = 4096  # task ids one lease may give out
_NAME = Str(255)  # a variable or property name
_NAMES = Either(_NAME, ListOf(_NAME))
_ID = Int(0)  # an engine id, a task id, a request id or a command id
_IDS = ListOf(_ID)
TARGETS = Either(Choice("all"), Int(), ListOf(Int()))  # an unknown id is InvalidEngineID, not malformed
_VERSIONS = MapOf(Str(64), longest=8)


class Message:
    """One kind of frame: subclasses set ``op``, ``fields``, ``buffers`` and ``doc``.

    Each subclass gets ``check(header)``, which checks a decoded header
    against the declaration and returns it: a function written from
    ``fields`` and ``check_more`` when the class is made (``fields.compiled``).
    """

    op = None
    fields = {}
    buffers = False  # whether buffers may come with it
    answer = None  # the message class that answers this request, if it is one
    errors = ()  # what a request may be answered with instead: kernel.errors types
    doc = ""

    def __init_subclass__(cls):
        super().__init_subclass__()
        cls.required = required(cls.fields)
        cls.where = {key: f"{cls.op}.{key}" for key in cls.fields}  # each field's name in errors, made once
        more = cls.check_more if cls.check_more.__func__ is not Message.check_more.__func__ else None
        cls.check = staticmethod(compiled(cls.fields, cls._check_each, also=("op",), then=more))

    @classmethod
    def _check_each(cls, header, where):
        """``check``'s fields one by one, naming the first that is wrong."""
        fields = cls.fields
        for key, value in header.items():
            if key != "op":
                field = fields.get(key)
                if field is None:
                    raise ProtocolError(f"a {cls.op!r} message has no field {key!r}")
                field.check(value, cls.where[key])
        for key in cls.required:
            if key not in header:
                raise ProtocolError(f"a {cls.op!r} message needs its field {key!r}")
        return header

    @classmethod
    def check_more(cls, header):
        """Checks that tie fields together; the default has none."""

    @classmethod
    def header(cls, **fields):
        """A header of this message (the sender vouches for the fields)."""
        return {"op": cls.op, **fields}


class Channel:
    """The messages one kind of peer may send on one interface."""

    def __init__(self, name, *messages):
        self.name = name
        self.messages = {m.op: m for m in messages}

    def decode(self, header):
        """The declared message ``header`` is, after checking it; ProtocolError if it is none."""
        message = self.messages.get(header.get("op"))
        if message is None:
            raise ProtocolError(f"unknown {self.name} message {str(header.get('op'))[:60]!r}")
        message.check(header)
        return message

    def responders(self, obj):
        """``{message: bound method}`` of ``obj``'s methods marked ``@message.responder``.

        Every message of the channel must have one, so a new message cannot
        go unhandled.
        """
        found = {}
        for name in dir(type(obj)):
            message = getattr(getattr(type(obj), name, None), "responds_to", None)  # zope adds unreadable names
            if message is not None:
                found[message] = getattr(obj, name)
        missing = [op for op, m in self.messages.items() if m not in found]
        if missing:
            raise TypeError(f"{type(obj).__name__} has no responder for {', '.join(missing)}")
        return found


def responder(message):
    """Mark a session method as the handler of ``message``."""
    def mark(method):
        method.responds_to = message
        return method

    return mark


# -- the welcome, to any peer -----------------------------------------------------------

class Welcome(Message):
    op = "welcome"
    fields = {"interface": Str(16), "versions": Optional(_VERSIONS)}
    doc = "The swissnum was known: this connection now speaks `interface`."


class Refused(Message):
    op = "refused"
    fields = {"error": Str(200)}
    doc = "The swissnum (or the registration) was refused; the connection closes."


# -- engines -------------------------------------------------------------------------

class Register(Message):
    op = "register"
    fields = {"desired_id": Optional(_ID), "pid": Optional(Int(1)), "host": Optional(Str(255)),
              "host_key": Optional(Str(64)), "versions": Optional(_VERSIONS)}
    doc = "An engine asks for an id (its old one, after a reconnect, if free)."


_PERIOD = Number(0)  # seconds


class Registered(Message):
    op = "registered"
    fields = {"id": _ID, "heartbeat_period": _PERIOD, "heartbeat_timeout": _PERIOD}
    doc = ("The engine's id, how often the controller beats when nothing else passes, and how long "
           "silence may last.")


class Heartbeat(Message):
    op = "hb"
    fields = {"heartbeat_period": Optional(_PERIOD), "heartbeat_timeout": Optional(_PERIOD)}
    doc = ("Still here. The controller's, sent to an engine it has neither written to nor heard from "
           "within the period, carries the period and timeout of the moment (they grow with the number "
           "of engines); the engine answers each with a bare one.")


class Bye(Message):
    op = "bye"
    doc = "The controller is shutting down."


ENGINE_METHODS = {  # the multiengine methods, with the arguments of each
    "execute": {"code": Str(), "echo": Optional(Bool())},
    "push": {},
    "pull": {"keys": _NAMES, "shared_memory": Optional(Record({"host_key": Str(64), "pid": Int(1)}))},
    "map": {"func_n": Optional(Int(0)), "name": Optional(Str())},
    "get_result": {"i": Optional(Int())},
    "reset": {},
    "keys": {},
    "kill": {"controller": Optional(Bool())},
    "set_properties": {},
    "get_properties": {"keys": Optional(_NAMES)},
    "has_properties": {"keys": _NAMES},
    "del_properties": {"keys": _NAMES},
    "clear_properties": {},
}
RUN_TASK = "run_task"  # the load-balanced interface's one method, on the engine
_METHOD_ARGS = {method: Record(args, f"the arguments of {method}") for method, args in ENGINE_METHODS.items()}
_METHOD_ARGS[RUN_TASK] = Record({}, "the arguments of run_task (its task is in the buffers)")


def _check_args(header, where):
    args = header.get("args")
    if args is not None:
        _METHOD_ARGS[header["method"]].check(args, where)


class Call(Message):
    op = "call"
    fields = {"cid": Int(1), "method": Choice(*ENGINE_METHODS, RUN_TASK), "args": Optional(Any()),
              "taskid": Optional(_ID), "stream": Optional(Bool())}
    buffers = True
    doc = ("Run `method` (with `args`, and the buffers) on the engine; answered by `reply` with the same `cid`. "
           "With `stream`, what the command prints also comes as it prints it, in `output` messages. "
           "One that fails its check is answered by a `reply` with `etype` `BadRequest` naming the field, if its "
           "`cid` is usable; the engine logs and ignores any other message that fails its check.")

    @classmethod
    def check_more(cls, header):
        _check_args(header, cls.where["args"])


class Reply(Message):
    op = "reply"
    fields = {"cid": Int(1), "status": Choice("ok", "error", "declined", "unmet"), "value": Optional(Any()),
              "etype": Optional(Str(200)), "message": Optional(Str()), "traceback": Optional(Str()),
              "stack": Optional(ListOf(Any())), "method": Optional(Str(64)),
              "started": Optional(Number()), "finished": Optional(Number())}
    buffers = True
    doc = ("The engine's answer to a `call`: `ok` with a JSON `value` or a pickled one in the buffers; "
           "`error` with `etype`, `message`, `traceback` (text) and `stack` (kernel.wire.tracebacks) and "
           "the pickled exception; for tasks also `declined` (depend said no) or `unmet`.")


class Interrupt(Message):
    op = "interrupt"
    fields = {"cid": Optional(Int(1))}
    doc = ("Raise KeyboardInterrupt in the command running now; with `cid`, only in that command (at once if "
           "it runs, as it starts if it has not yet).")


class Cancel(Message):
    op = "cancel"
    fields = {"cids": _IDS}
    doc = "Drop these commands if they have not started (each is answered QueueCleared)."


OUTPUT_BACKLOG = 1 << 20  # bytes unsent on a connection past which output chunks are dropped, not queued
OUTPUT_CHUNK = 1 << 16  # the most bytes of text one output message carries


class Output(Message):
    op = "output"
    fields = {"cid": Optional(Int(1)), "rid": Optional(_ID), "id": Optional(_ID),
              "name": Choice("stdout", "stderr"), "at": Int(0)}
    buffers = True
    doc = ("Text a command printed, as it prints it (at most every 50 ms, or each 64 KiB): its UTF-8 bytes "
           "in the one buffer, starting `at` bytes into the command's `name` stream. From an engine it names "
           "the command (`cid`); the controller passes it on to the client whose call that is, naming the "
           "call (`rid`) and the engine (`id`). Either side drops it instead while more than 1 MiB waits "
           "unsent on the connection it would go out on: the reader sees the gap in `at`, and the call's "
           "result still has the whole text.")


FROM_ENGINE = Channel("engine", Register, Reply, Heartbeat, Output)
TO_ENGINE = Channel("controller-to-engine", Welcome, Refused, Registered, Call, Interrupt, Cancel,
                    Heartbeat, Bye)


# -- engine relays (``kernel.controller.relays``) -----------------------------------------
# A relay's link is a private socket pair between the controller and its child; the engines'
# own messages cross it in batches, each checked by the relay against FROM_ENGINE on its way.

_CONN = Int(1)  # a connection's number within its relay


class RelaySetup(Message):
    op = "relay_setup"
    fields = {"swissnum": Str(255), "cert_file": Str(), "preauth_timeout": _PERIOD, "preauth_grace": _PERIOD,
              "preauth_per_peer": Int(0), "preauth_max": Int(0)}
    doc = ("The controller's first word to a relay it started: the engine FURL's swissnum, where the engine "
           "port's TLS key is, and the limits on connections not yet authenticated (each relay's own).")


class Forward(Message):
    op = "forward"
    fields = {"conns": ListOf(_CONN)}
    buffers = True
    doc = ("Write this frame (the buffers are its encoded parts) to each of these engines' connections, "
           "in order: a broadcast's call or a round's beats is one of these per relay.")


class Drop(Message):
    op = "drop"
    fields = {"conn": _CONN}
    doc = "Abort this engine's connection (it broke the protocol, or went silent)."


class Opened(Message):
    op = "opened"
    fields = {"conn": _CONN, "peer": Str(300)}
    doc = "An engine connected with the engine FURL's swissnum; its messages follow in batches."


class Batch(Message):
    op = "batch"
    fields = {"conns": ListOf(_CONN), "headers": ListOf(Any()), "counts": ListOf(Int(0))}
    buffers = True
    doc = ("The engines' messages a relay read in one turn, in order: for each, its connection, its header "
           "as the engine sent it, and how many of the buffers are its own.")

    @classmethod
    def check_more(cls, header):
        if not len(header["conns"]) == len(header["headers"]) == len(header["counts"]):
            raise ProtocolError("a batch needs as many headers and buffer counts as connections")


class Closed(Message):
    op = "closed"
    fields = {"conn": _CONN, "reason": Str()}
    doc = "An engine's connection is gone, and why."


class Heard(Message):
    op = "heard"
    fields = {"conns": ListOf(_CONN)}
    doc = ("Bytes came from these connections but no whole message yet (a big frame arriving): they are "
           "alive. Sent at most twice a heartbeat period.")


TO_RELAY = Channel("controller-to-relay", RelaySetup, Forward, Drop)
FROM_RELAY = Channel("relay", Opened, Batch, Closed, Heard)


# -- clients: answers --------------------------------------------------------------------

class Result(Message):
    op = "result"
    fields = {"rid": _ID, "value": Optional(Any()), "results": Optional(ListOf(Any()))}
    buffers = True
    doc = ("A request's answer: its `value`, or for a multiengine `call` one entry per target in "
           "`results` (each a `reply` with `id` and its buffer count `n`).")


class Error(Message):
    op = "error"
    fields = {"rid": Optional(_ID), "etype": Str(200), "message": Str()}
    doc = "A request failed: `etype` names a type of kernel.errors."


class Stored(Message):
    op = "stored"
    fields = {"rids": _IDS}
    doc = "These `run` requests' tasks are in the store (one frame for a reactor turn's runs)."


TO_CLIENT = Channel("controller-to-client", Welcome, Refused, Result, Error, Stored, Output)


class Request(Message):
    """A client's request: it has a ``rid``, which its answer repeats."""

    answer = Result

    def __init_subclass__(cls):
        cls.fields = {"rid": _ID, **cls.fields}
        super().__init_subclass__()


# -- the multiengine interface ------------------------------------------------------------

_ENGINE_ERRORS = (InvalidEngineID, NoEnginesRegistered)


class MultiEngineCall(Request):
    op = "call"
    fields = {"method": Choice(*ENGINE_METHODS), "targets": TARGETS, "args": Optional(Any()),
              "per_target": Optional(ListOf(Int(0))), "stream": Optional(Bool())}
    buffers = True
    errors = _ENGINE_ERRORS
    doc = ("Call `method` on each target; `per_target` splits the buffers, a count per target. With `stream`, "
           "an `execute`'s output comes as it is printed, in `output` messages, before the `result`.")

    @classmethod
    def check_more(cls, header):
        _check_args(header, cls.where["args"])


class GetIds(Request):
    op = "get_ids"
    doc = "The registered engines' ids."


class EngineInfo(Request):
    op = "engine_info"
    doc = "Each engine's id, pid, host, host key and versions, and the task scheme."


class EngineQueueStatus(Request):
    op = "queue_status"
    fields = {"targets": Optional(TARGETS)}
    errors = _ENGINE_ERRORS
    doc = "Each target's pending command and queue."


class ClearQueue(Request):
    op = "clear_queue"
    fields = {"targets": Optional(TARGETS)}
    errors = _ENGINE_ERRORS
    doc = "Drop the targets' queued multiengine commands (each fails with QueueCleared)."


class InterruptEngines(Request):
    op = "interrupt"
    fields = {"targets": Optional(TARGETS)}
    errors = _ENGINE_ERRORS
    doc = "Interrupt each target's running command."


class StopCalls(Request):
    op = "stop_calls"
    fields = {"calls": _IDS}
    doc = ("Stop these calls of this client (their `rid`s): interrupt each command of theirs an engine runs, "
           "take back those still queued (QueueCleared). Answered with the ids of the engines interrupted.")


MULTIENGINE = Channel("multiengine", MultiEngineCall, GetIds, EngineInfo, EngineQueueStatus, ClearQueue,
                      InterruptEngines, StopCalls)

# -- the task interface -----------------------------------------------------------------------

DEPENDENCY = Record({"ids": _IDS, "all": Bool(), "success": Bool(), "failure": Bool()}, "a dependency")
TASK_SPEC = Record({"kind": Choice("string", "map"), "retries": Int(0), "has_depend": Bool(),
                    "after": Optional(DEPENDENCY), "follow": Optional(DEPENDENCY),
                    "timeout": Optional(Number(0))}, "a task's scheduling metadata")
_TASK_ID = Int()  # an id asked about: one never given out is NoSuchTask, not malformed
_TASK_IDS = Either(_TASK_ID, ListOf(_TASK_ID))


class Run(Request):
    op = "run"
    fields = {"tasks": ListOf(ListOf(TASK_SPEC, shortest=1)), "counts": ListOf(Int(0)),
              "ids": Optional(ListOf(Optional(_ID))), "wait": Optional(Bool()), "store": Optional(Str(64))}
    buffers = True
    doc = ("Submit tasks, each a chain (the task, then its recovery tasks), with `counts` buffers for "
           "each; with leased `ids` it is answered by `stored`, else by their ids (or, with `wait`, "
           "their results). `store` names the task store the ids were leased from: ids of another "
           "(one reset since) are refused with StaleLease.")
    errors = (StaleLease,)

    @classmethod
    def check_more(cls, header):
        chains = header["tasks"]
        if sum(len(chain) for chain in chains) != len(header["counts"]):
            raise ProtocolError("run: a payload count is needed for each task of each chain")
        if header.get("ids") is not None and len(header["ids"]) != len(chains):
            raise ProtocolError("run: ids must give one leased id per task")


class Lease(Request):
    op = "lease"
    fields = {"n": Int(1, LEASE_MAX)}
    doc = ("Reserve `n` task ids: answered `[first, end, store]`, the ids from `first` to `end` (not included) "
           "and the identity of the task store that leased them.")


class GetResults(Request):
    op = "get_results"
    fields = {"taskids": _TASK_IDS, "block": Optional(Bool()), "max_bytes": Optional(Int(1))}
    errors = (NoSuchTask,)
    doc = ("Finished tasks' metadata and results (`null` for one not finished); `block` waits. With "
           "`max_bytes`, the answer ends with the result whose buffers reach that many bytes in all: "
           "ask again for the rest. A map task's metadata leaves out when it was submitted, started, "
           "finished and completed (`timeline` has them).")


class Barrier(Request):
    op = "barrier"
    fields = {"taskids": _TASK_IDS}
    doc = "Answered once every one of these tasks has finished."


class TaskQueueStatus(Request):
    op = "queue_status"
    fields = {"verbose": Optional(Bool())}
    doc = "How many tasks are in each state (with `verbose`, their ids)."


class TaskStatus(Request):
    op = "task_status"
    fields = {"taskid": _TASK_ID}
    errors = (NoSuchTask,)
    doc = "One task's record: its state, engine and times."


class Abort(Request):
    op = "abort"
    fields = {"taskid": _TASK_ID}
    errors = (NoSuchTask, TaskAborted)
    doc = "Abort a task that has not finished."


class Spin(Request):
    op = "spin"
    doc = "Give waiting tasks another chance at the engines."


class Clear(Request):
    op = "clear"
    fields = {"taskids": Optional(_TASK_IDS)}
    errors = (NoSuchTask,)
    doc = "Forget finished tasks' results (every one, without `taskids`)."


class Resubmit(Request):
    op = "resubmit"
    fields = {"taskid": _TASK_ID}
    errors = (NoSuchTask,)
    doc = "Run a finished task again, under a new id."


class Timeline(Request):
    op = "timeline"
    fields = {"taskids": Optional(_TASK_IDS)}
    doc = "When each task was submitted, started and finished, and on which engine."


class StopTasks(Request):
    op = "stop_tasks"
    fields = {"taskids": _TASK_IDS}
    doc = ("Abort each of these tasks that has not finished, and interrupt those an engine runs; ids "
           "finished or unknown are passed over. Answered with how many were aborted.")


TASKS = Channel("task", Run, Lease, GetResults, Barrier, TaskQueueStatus, TaskStatus, Abort, Spin,
                Clear, Resubmit, Timeline, StopTasks)

CHANNELS = (FROM_ENGINE, TO_ENGINE, MULTIENGINE, TASKS, TO_CLIENT, TO_RELAY, FROM_RELAY)


def markdown():
    """``docs/protocol.md``: every channel's messages, their fields, answers and errors."""
    out = ["# The protocol", "",
           "Written by `python -m kernel.wire.messages` from the declarations in",
           "`kernel/wire/messages.py` (a test checks that it matches them). Each message",
           "is a frame (see `architecture.md`) whose JSON header has `op` and these fields;",
           "a field marked optional may be absent or `null`, and no other field is allowed.", ""]
    for channel in CHANNELS:
        out += [f"## {channel.name}", ""]
        for op, message in channel.messages.items():
            out += [f"### `{op}`", "", message.doc, ""]
            out += [f"- `{key}`: {field.description}" for key, field in message.fields.items()]
            if message.buffers:
                out.append("- buffers: any number")
            if message.answer is not None:
                out.append(f"- answered by: `{message.answer.op}`")
            if message.errors:
                out.append("- or by `error` with `etype`: " + ", ".join(f"`{e.__name__}`" for e in message.errors))
            out.append("")
    out += ["## The methods of `call`", "", "The `args` of each method:", ""]
    for method, args in ENGINE_METHODS.items():
        described = ", ".join(f"`{k}` ({f.description})" for k, f in args.items()) or "none"
        out.append(f"- `{method}`: {described}")
    out += ["", "## Revisions", "",
            "Each process tells the revision of these messages it speaks as `protocol` in its `versions`",
            "(none: the first). A field added at a revision goes only to peers that speak it.", ""]
    out += [f"- {revision}: {what}" for revision, what in REVISIONS.items()]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
