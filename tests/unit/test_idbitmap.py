"""The in-memory set of the task ids accepted since the controller started."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.controller.idbitmap import IdBitmap


@given(st.integers(0, 10**6), st.sets(st.integers(0, 5000)), st.lists(st.integers(-10, 6000)))
def test_it_holds_what_was_added_and_nothing_else(start, offsets, probes):
    ids = IdBitmap(start)
    for offset in offsets:
        ids.add(start + offset)
    for offset in [*offsets, *probes]:
        assert (start + offset in ids) == (offset in offsets)


def test_it_answers_only_from_its_start():
    ids = IdBitmap(100)
    assert ids.covers(100) and not ids.covers(99)
    with pytest.raises(ValueError, match="task id 99 is below this set's start, 100"):
        ids.add(99)
