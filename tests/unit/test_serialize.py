"""Serialization of user values (``kernel.wire.serialize``)."""

import io
import math

import pytest

from kernel.wire import serialize


@pytest.mark.parametrize("value", [None, True, 0, -5, 2**100, 1.5, math.inf, 1 + 2j, "", "é" * 10, "x" * 100_000])
def test_a_plain_value_is_pickled_as_cloudpickle_would_and_comes_back(value):
    out = io.BytesIO()
    serialize._Pickler(out, protocol=5).dump(value)
    assert serialize.dumps(value) == [out.getvalue()]
    assert serialize.loads(serialize.dumps(value)) == value
