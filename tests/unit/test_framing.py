"""Framing: any chunking decodes the same; malformed frames raise ProtocolError."""

import struct

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.errors import ProtocolError
from kernel.wire import framing, serialize


def frame_bytes(header, buffers=()):
    return b"".join(bytes(p) for p in framing.encode(header, buffers))


def test_byte_at_a_time_delivery():
    data = frame_bytes({"op": "a", "x": 1}, [b"hello", b"", b"w" * 70000]) + frame_bytes({"op": "b"})
    decoder = framing.FrameDecoder()
    messages = []
    for i in range(len(data)):
        messages.extend(decoder.feed(data[i:i + 1]))
    assert [h["op"] for h, _ in messages] == ["a", "b"]
    assert [bytes(b) for b in messages[0][1]] == [b"hello", b"", b"w" * 70000]
    assert messages[1][1] == []


@given(st.lists(st.binary(max_size=300), max_size=5), st.integers(1, 97))
def test_any_chunk_size_gives_the_same_messages(buffers, chunk):
    data = frame_bytes({"op": "m", "n": len(buffers)}, buffers) * 2
    decoder = framing.FrameDecoder()
    messages = []
    for i in range(0, len(data), chunk):
        messages.extend(decoder.feed(data[i:i + chunk]))
    assert len(messages) == 2
    for header, got in messages:
        assert header == {"op": "m", "n": len(buffers)}
        assert [bytes(b) for b in got] == buffers


def test_arrays_arrive_writable_with_dtype_and_shape():
    array = numpy.arange(12, dtype=numpy.int32).reshape(3, 4)
    data = frame_bytes({"op": "v"}, serialize.dumps({"a": array}))
    [(header, buffers)] = framing.FrameDecoder().feed(data)
    value = serialize.loads(buffers)["a"]
    assert value.dtype == numpy.int32 and value.shape == (3, 4)
    assert value.flags.writeable
    assert (value == array).all()


def test_whole_frames_in_one_chunk_and_a_big_or_cut_one_after_them():
    big = bytes(range(256)) * (framing.LAZY_MIN // 256)  # received in place, not taken apart whole
    frames = [frame_bytes({"op": "s", "i": i}, [b"p" * i, b""]) for i in range(3)]
    frames += [frame_bytes({"op": "big"}, [b"x", big]), frame_bytes({"op": "last"}, [b"tail"])]
    data = b"".join(frames)
    cut = len(data) - 3
    decoder = framing.FrameDecoder()
    messages = decoder.feed(data[:cut]) + decoder.feed(data[cut:])
    assert [h["op"] for h, _ in messages] == ["s", "s", "s", "big", "last"]
    assert [bytes(b) for b in messages[2][1]] == [b"pp", b""]
    assert bytes(messages[3][1][1]) == big and bytes(messages[4][1][0]) == b"tail"
    assert all(isinstance(b, bytearray) for _, buffers in messages[:3] for b in buffers)  # writable


@pytest.mark.parametrize("data, why", [
    (struct.pack("!IH", 0, 0), "bad header length"),
    (struct.pack("!IH", 5, 0) + b"nope!", "not JSON"),
    (struct.pack("!IH", 11, 0) + b'{"op": "\xff"}', "not JSON.*utf-8"),  # headers are UTF-8
    (struct.pack("!IH", 13, 0) + b'{"op": "a"} x', "not JSON: Extra data"),
    (struct.pack("!IH", 2, 0) + b"[]", "JSON object"),
    (struct.pack("!IH", 9, 0) + b'{"op": 1}', "JSON object"),
    (struct.pack("!IH", 0xFFFFFFFF, 0), "bad header length"),
    (struct.pack("!IH", 200_000, 0) + b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
])
def test_malformed_frames(data, why):
    with pytest.raises(ProtocolError, match=why):
        framing.FrameDecoder().feed(data)


def test_frame_limit_is_enforced_before_buffering():
    decoder = framing.FrameDecoder(max_frame=1000)
    header = struct.pack("!IH", 20, 1) + struct.pack("!Q", 10**12)
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        decoder.feed(header)


def test_truncated_frame_yields_nothing():
    data = frame_bytes({"op": "x"}, [b"abc" * 10])
    assert framing.FrameDecoder().feed(data[:-1]) == []


def test_closures_defaults_and_lambdas_survive():
    k = 10

    def f(x, y=2):
        return x * y + k

    g = serialize.loads(serialize.dumps(f))
    h = serialize.loads(serialize.dumps(lambda x: x + k))
    assert g(3) == 16 and h(1) == 11


def test_split_groups_buffers_and_checks_a_peers_counts():
    assert framing.split([2, 0, 1], ["a", "b", "c"]) == [["a", "b"], [], ["c"]]
    for bad in ([1, 1], [4], [-1, 4], ["2", 1], [True, 2], "3", None):
        with pytest.raises(ProtocolError):
            framing.split(bad, ["a", "b", "c"])


@given(st.lists(st.binary(min_size=0, max_size=3000), max_size=4), st.integers(1, 700))
def test_reading_into_get_buffer_gives_the_same_messages_as_feed(buffers, chunk):
    """A transport that decrypts straight into ``get_buffer()`` sees every byte placed right."""
    data = frame_bytes({"op": "x"}, buffers) * 2
    decoder, got, at = framing.FrameDecoder(), [], 0
    while at < len(data):
        target = decoder.get_buffer()
        if target is None:
            got += decoder.feed(data[at:at + chunk])
            at += chunk
        else:
            n = min(chunk, len(target), len(data) - at)
            target[:n] = data[at:at + n]
            target.release()
            got += decoder.buffer_updated(n)
            at += n
    assert [[bytes(b) for b in bufs] for _, bufs in got] == [buffers, buffers]


def test_a_header_with_whitespace_around_its_json_is_read():
    """Our peers send none, but JSON allows it: another implementation's frames are still read."""
    head = b' \n{"op": "x", "n": 1}\t '
    [(header, buffers)] = framing.FrameDecoder().feed(struct.pack("!IH", len(head), 0) + head)
    assert header == {"op": "x", "n": 1} and buffers == []
