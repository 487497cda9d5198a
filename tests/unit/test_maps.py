"""Block partitioning for scatter, gather and map."""

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.client import maps


def blocks(seq, q):
    return [maps.partition(seq, p, q) for p in range(q)]


def test_first_blocks_are_one_longer():
    assert blocks(list(range(10)), 4) == [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]
    assert blocks(list(range(16)), 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
    assert blocks([1, 2], 4) == [[1], [2], [], []]
    assert blocks([], 3) == [[], [], []]


def test_ranges_give_lists_strings_stay_strings():
    assert blocks(range(5), 2) == [[0, 1, 2], [3, 4]]
    assert blocks("abcdefgh", 4) == ["ab", "cd", "ef", "gh"]
    assert blocks((1, 2, 3), 2) == [(1, 2), (3,)]


def test_array_blocks_are_views_along_the_first_axis():
    a = numpy.arange(12).reshape(6, 2)
    parts = blocks(a, 4)
    assert [p.shape for p in parts] == [(2, 2), (2, 2), (1, 2), (1, 2)]
    assert all(numpy.shares_memory(p, a) for p in parts)


@given(st.lists(st.integers()), st.integers(min_value=1, max_value=9))
def test_blocks_rejoin_to_the_sequence(seq, q):
    parts = blocks(seq, q)
    assert maps.join(parts) == seq
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True)


def test_join():
    assert maps.join([]) == []
    assert maps.join([[1], (2, 3), []]) == [1, 2, 3]
    assert maps.join(["ab", "cd"]) == ["ab", "cd"]
    assert maps.join([1, 2]) == [1, 2]
    joined = maps.join([numpy.arange(2), numpy.arange(2, 5)])
    assert isinstance(joined, numpy.ndarray) and joined.tolist() == [0, 1, 2, 3, 4]


def test_as_sequence():
    assert maps.as_sequence(x for x in range(3)) == [0, 1, 2]
    assert maps.as_sequence({3}) == [3]
    assert maps.as_sequence({"k": 1}) == ["k"]
    r = range(3)
    assert maps.as_sequence(r) is r
    with pytest.raises(TypeError, match="cannot partition a int"):
        maps.as_sequence(5)
    with pytest.raises(TypeError, match="0-dimensional"):
        maps.as_sequence(numpy.array(1))


def test_distribution():
    assert maps.distribution("b") == (maps.partition, maps.join)
    with pytest.raises(ValueError, match="unknown distribution 'c'"):
        maps.distribution("c")
    with pytest.raises(ValueError, match="unknown distribution"):
        maps.distribution(["b"])
