"""The client's cache of finished results: its bound, eviction, clears and reconnections."""

from kernel.client.resultcache import ENTRY_BYTES, ResultCache


def result(size):
    return [bytearray(size)]


def cost(size):
    return ENTRY_BYTES + size


def filled(limit, sizes, generation=1):
    cache = ResultCache(limit)
    mark = cache.mark()
    kept = [cache.add(mark, generation, taskid, {"taskid": taskid}, result(size)) for taskid, size in sizes.items()]
    return cache, kept


def test_a_result_is_taken_once():
    cache, kept = filled(10**6, {1: 10, 2: 20})
    assert kept == [True, True] and len(cache) == 2 and cache.size == cost(10) + cost(20)
    meta, buffers = cache.take(1, 1)
    assert meta == {"taskid": 1} and buffers == result(10)
    assert cache.take(1, 1) is None and cache.size == cost(20)
    assert cache.take(3, 1) is None


def test_the_oldest_go_first_and_the_size_never_passes_the_limit():
    cache, kept = filled(3 * cost(100), {1: 100, 2: 100, 3: 100, 4: 100, 5: 50})
    assert kept == [True] * 5
    assert 1 not in cache and 2 not in cache and [t in cache for t in (3, 4, 5)] == [True] * 3
    assert cache.size == 2 * cost(100) + cost(50) <= cache.limit


def test_a_result_bigger_than_the_limit_is_not_kept_and_evicts_nothing():
    cache, kept = filled(cost(100), {1: 100, 2: 101})
    assert kept == [True, False] and 1 in cache and cache.size == cost(100)


def test_a_limit_of_zero_keeps_nothing():
    cache, kept = filled(0, {1: 0})
    assert kept == [False] and len(cache) == 0 and cache.size == 0


def test_adding_a_result_again_replaces_it():
    cache, _ = filled(10**6, {1: 10})
    cache.add(cache.mark(), 1, 1, {"taskid": 1, "again": True}, result(30))
    assert len(cache) == 1 and cache.size == cost(30) and cache.take(1, 1)[0]["again"]


def test_clearing_drops_the_ids_before_and_after_the_request():
    cache, _ = filled(10**6, {1: 10, 2: 10, 3: 10})
    with cache.clearing([1]):
        assert 1 not in cache
        cache.add(cache.mark(), 1, 1, {}, result(10))  # a fill answered while the clear is in flight
    assert 1 not in cache and 2 in cache and cache.size == 2 * cost(10)
    cache.clear()
    assert len(cache) == 0 and cache.size == 0


def test_a_fill_that_began_before_a_clear_ended_is_refused():
    cache = ResultCache(10**6)
    before = cache.mark()
    with cache.clearing([7]):
        during = cache.mark()
    assert not cache.add(before, 1, 7, {}, result(1))  # its answer may predate the clear
    assert not cache.add(during, 1, 7, {}, result(1))
    assert not cache.add(before, 1, 8, {}, result(1))  # any id: the mark is for the whole fill
    assert cache.add(cache.mark(), 1, 7, {}, result(1))


def test_a_failed_clear_still_drops_its_ids():
    cache, _ = filled(10**6, {1: 10, 2: 10})
    try:
        with cache.clearing([1, 99]):
            raise KeyError(99)
    except KeyError:
        pass
    assert 1 not in cache and 2 in cache


def test_a_new_connection_empties_the_cache():
    cache, _ = filled(10**6, {1: 10, 2: 10}, generation=1)
    assert cache.take(1, 2) is None and len(cache) == 0 and cache.size == 0
    cache.add(cache.mark(), 2, 3, {}, result(1))
    assert not cache.add(cache.mark(), 1, 4, {}, result(1))  # an answer that came over the old one
    assert 3 in cache and 4 not in cache
