"""BufferPool: big receive buffers are reused only once nothing refers to them."""

from twisted.internet.task import Clock

from kernel.wire import framing
from kernel.wire.pool import BufferPool

MB = 1 << 20


def test_a_buffer_is_reused_only_after_every_view_of_it_is_gone():
    pool = BufferPool(Clock())
    first = pool.allocate(3 * MB)
    first[:5] = b"hello"
    kept = first[1:3]  # a slice still refers to the slab
    del first
    second = pool.allocate(3 * MB)
    assert bytes(kept) == b"el" and pool.mapped_bytes == 6 * MB
    del kept, second
    third = pool.allocate(3 * MB)
    assert len(third) == 3 * MB and pool.mapped_bytes == 6 * MB


def test_a_slab_more_than_twice_the_size_is_not_used_for_a_small_buffer():
    pool = BufferPool(Clock())
    del_me = pool.allocate(8 * MB)
    del del_me
    small = pool.allocate(2 * MB)
    assert len(small) == 2 * MB and pool.mapped_bytes == 10 * MB


def test_small_buffers_are_not_pooled():
    pool = BufferPool(Clock())
    assert isinstance(pool.allocate(100), bytearray) and pool.mapped_bytes == 0


def test_idle_free_slabs_are_unmapped_and_busy_ones_kept():
    clock = Clock()
    pool = BufferPool(clock, idle_seconds=2.0)
    busy = pool.allocate(MB)
    idle = pool.allocate(MB)
    del idle
    pool.trim()
    assert pool.mapped_bytes == 2 * MB  # not idle long enough yet
    clock.advance(2.0)
    pool.trim()
    assert pool.mapped_bytes == MB
    busy[:3] = b"abc"
    assert bytes(busy[:3]) == b"abc"


def test_a_decoder_receives_into_pooled_buffers():
    pool = BufferPool(Clock())
    payload = bytes(range(256)) * (5 * MB // 256)
    frame = b"".join(bytes(p) for p in framing.encode({"op": "x"}, [payload]))
    for _ in range(2):
        [(header, [got])] = framing.FrameDecoder(allocate=pool.allocate).feed(frame)
        assert got == payload
        del got
    assert pool.mapped_bytes == 5 * MB  # the second frame reused the first one's slab
