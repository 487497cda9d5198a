"""Live output, each part alone: the engine's batching, the controller's forwarding, the client's buffer and printer."""

import io

import pytest

from kernel.client.streaming import KEEP_MOST, OutputBuffer, OutputChunk, Printer
from kernel.controller.engines import EngineHandle
from kernel.controller.multiengine import MultiEngineInterface
from kernel.engine.outputstream import FLUSH_EVERY, OutputStream, pieces
from kernel.errors import ProtocolError
from kernel.wire.messages import OUTPUT_BACKLOG, OUTPUT_CHUNK

# -- the engine: batches, chunks, drops ---------------------------------------------------------------


class Reactor:
    """Runs nothing by itself: ``callFromThread`` and ``callLater`` are recorded, and run on demand."""

    def __init__(self):
        self.later = []

    def callFromThread(self, f, *args):
        f(*args)

    def callLater(self, delay, f):
        self.later.append((delay, f))

    def fire(self):
        later, self.later = self.later, []
        for _, f in later:
            f()


class Protocol:
    connected = True

    def __init__(self):
        self.sent = []
        self.backlog = 0

    def get_write_buffer_size(self):
        return self.backlog

    def send_from_thread(self, header, buffers=()):
        self.sent.append((header["name"], header["at"], bytes(buffers[0])))


def stream():
    reactor, protocol = Reactor(), Protocol()
    return OutputStream(reactor, protocol, 7), reactor, protocol


def test_writes_wait_for_the_timer_which_is_set_once():
    out, reactor, protocol = stream()
    for i in range(100):
        out.write("stdout", f"{i}\n")
    out.write("stderr", "e\n")
    assert protocol.sent == [] and [delay for delay, _ in reactor.later] == [FLUSH_EVERY]
    reactor.fire()
    text = "".join(f"{i}\n" for i in range(100))
    assert protocol.sent == [("stdout", 0, text.encode()), ("stderr", 0, b"e\n")]
    out.write("stdout", "more\n")
    out.close()  # what waits goes out before the reply
    assert protocol.sent[-1] == ("stdout", len(text), b"more\n")
    out.write("stdout", "after the end\n")
    reactor.fire()
    assert len(protocol.sent) == 3


def test_a_chunks_worth_goes_at_once_in_pieces_that_keep_characters_whole():
    out, reactor, protocol = stream()
    out.write("stdout", "a" + "é" * OUTPUT_CHUNK)  # 2 bytes a character, one byte off
    sizes = [len(data) for _, _, data in protocol.sent]
    assert all(size <= OUTPUT_CHUNK for size in sizes) and sum(sizes) == 1 + 2 * OUTPUT_CHUNK
    assert b"".join(data for _, _, data in protocol.sent).decode() == "a" + "é" * OUTPUT_CHUNK
    assert [at for _, at, _ in protocol.sent] == [sum(sizes[:i]) for i in range(len(sizes))]


def test_pieces_never_cut_a_character():
    data = ("x" + "€" * 10).encode()  # 3 bytes a character
    for most in range(3, 12):
        cut = list(pieces(data, most))
        assert b"".join(cut) == data and all(len(p) <= most for p in cut)
        assert [p.decode() for p in cut]  # each piece decodes alone


def test_while_the_connection_is_backed_up_chunks_are_dropped_and_the_offsets_show_it():
    out, reactor, protocol = stream()
    out.write("stdout", "first\n")
    reactor.fire()
    protocol.backlog = OUTPUT_BACKLOG + 1
    out.write("stdout", "lost\n")
    reactor.fire()
    protocol.backlog = 0
    out.write("stdout", "last\n")
    out.close()
    assert protocol.sent == [("stdout", 0, b"first\n"), ("stdout", 11, b"last\n")]  # 6..11 dropped


def test_a_gap_at_the_very_end_is_marked_when_the_command_ends():
    out, reactor, protocol = stream()
    protocol.backlog = OUTPUT_BACKLOG + 1
    out.write("stderr", "lost\n")
    reactor.fire()
    protocol.backlog = 0
    out.close()
    assert protocol.sent == [("stderr", 5, b"")]


def test_lone_surrogates_travel():
    out, reactor, protocol = stream()
    out.write("stdout", "\ud800!")
    out.close()
    assert protocol.sent == [("stdout", 0, "\ud800!".encode("utf-8", "surrogatepass"))]


# -- the controller: to the caller, unless it reads too slowly ------------------------------------------


class Session:
    def __init__(self):
        self.sent = []

    def send(self, header, buffers=()):
        self.sent.append((header, list(buffers)))

    def send_encoded(self, parts):
        self.sent.append(("encoded", parts))


class Registry:
    def __init__(self, handles):
        self.engines = {h.id: h for h in handles}

    def ids(self):
        return sorted(self.engines)

    def get(self, eid):
        return self.engines.get(eid)


class ClientProtocol(Session):
    backlog = 0

    def get_write_buffer_size(self):
        return self.backlog


def test_output_goes_to_the_client_whose_call_it_is_until_it_falls_behind():
    handles = [EngineHandle(eid, Session(), {}, window=2) for eid in (0, 1)]
    interface = MultiEngineInterface(Registry(handles), controller=None)
    client = ClientProtocol()
    session = interface.open_session(client)
    session.message({"op": "call", "rid": 5, "method": "execute", "targets": [0, 1], "args": {"code": "x"},
                     "stream": True}, [])
    session.message({"op": "call", "rid": 6, "method": "execute", "targets": [1], "args": {"code": "y"}}, [])
    first, second = handles[1].inflight.values()
    assert first.extra == {"stream": True} and second.extra == {} and second.on_output is None

    handles[1].output({"op": "output", "cid": first.cid, "name": "stdout", "at": 0}, [b"hi\n"])
    handles[1].output({"op": "output", "cid": second.cid, "name": "stdout", "at": 0}, [b"not asked\n"])
    handles[1].output({"op": "output", "cid": 12345, "name": "stdout", "at": 0}, [b"no such command\n"])
    client.backlog = OUTPUT_BACKLOG + 1
    handles[0].output({"op": "output", "cid": first.cid, "name": "stdout", "at": 0}, [b"dropped\n"])
    assert client.sent == [({"op": "output", "name": "stdout", "at": 0, "rid": 5, "id": 1}, [b"hi\n"])]
    with pytest.raises(ProtocolError, match="2 buffers"):
        handles[0].output({"op": "output", "cid": first.cid, "name": "stdout", "at": 0}, [b"a", b"b"])

    client.backlog = 0  # engine 0 fails: its result has no text, so where the dropped output ended is said
    handles[0].done({"op": "reply", "cid": first.cid, "status": "error", "etype": "ValueError", "message": ""}, [])
    handles[1].done({"op": "reply", "cid": first.cid, "status": "ok", "value": {"stdout": "hi\n"}}, [])
    assert client.sent[1] == ({"op": "output", "rid": 5, "id": 0, "name": "stdout", "at": 8}, [b""])
    assert client.sent[2][0]["op"] == "result" and len(client.sent) == 3


# -- the client: kept, passed on in order, gaps and tails ---------------------------------------------------


def output(eid, at, data, name="stdout"):
    return {"op": "output", "rid": 1, "id": eid, "name": name, "at": at}, [data]


def reply(*entries):
    return [({"op": "result", "rid": 1, "results": list(entries)}, [])]


def test_a_late_consumer_is_given_what_came_before_then_the_rest_and_the_results_tail():
    buffer = OutputBuffer()
    buffer.feed(*output(0, 0, b"one\n"))
    early, late = [], []
    buffer.attach(early.append)
    buffer.feed(*output(0, 4, b"two\n"))
    buffer.feed(*output(0, 19, b"six\n"))  # 8..19 were dropped on the way
    buffer.attach(late.append)
    buffer.finish(reply({"id": 0, "status": "ok", "value": {"stdout": "one\ntwo\nthree\nfour\nsix\nseven\n"}},
                        {"id": 1, "status": "error", "etype": "ZeroDivisionError"}))
    expected = [OutputChunk(0, "stdout", "one\n"), OutputChunk(0, "stdout", "two\n"),
                OutputChunk(0, "stdout", "six\n", dropped=11), OutputChunk(0, "stdout", "seven\n")]
    assert early == expected and late == expected


def test_only_the_first_keep_most_bytes_wait_for_a_consumer():
    buffer = OutputBuffer()
    block = b"x" * (KEEP_MOST // 2)
    for i in range(3):
        buffer.feed(*output(2, i * len(block), block))
    got = []
    buffer.attach(got.append)
    buffer.feed(*output(2, 3 * len(block), b"end\n"))
    assert [(len(c.text), c.dropped) for c in got] == [(len(block), 0), (len(block), 0), (4, len(block))]


def test_the_printer_prefixes_each_line_and_never_mixes_engines_on_one():
    out = io.StringIO()
    printer = Printer(out)
    for chunk in [OutputChunk(0, "stdout", "a\nb"), OutputChunk(0, "stdout", "c\n"), OutputChunk(1, "stdout", "x"),
                  OutputChunk(0, "stdout", "d"), OutputChunk(0, "stderr", "oops\n"),
                  OutputChunk(0, "stdout", "e\n", dropped=100), OutputChunk(1, "stdout", "\n\n")]:
        printer(chunk)
    printer.close()
    assert out.getvalue() == ("[stdout:0] a\n[stdout:0] bc\n[stdout:1] x\n[stdout:0] d\n[stderr:0] oops\n"
                              "[stdout:0] (100 bytes of output not shown here: this client read too slowly; "
                              "the result has them all)\n[stdout:0] e\n[stdout:1] \n[stdout:1] \n")


def test_the_printer_escapes_what_its_file_cannot_encode():
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    Printer(out)(OutputChunk(3, "stdout", "caf\xe9 \ufffd\n"))
    assert raw.getvalue() == b"[stdout:3] caf\\xe9 \\ufffd\n"
