"""How an engine's reply carries a command's value: in the header when it is small JSON, else pickled."""

import pytest

from kernel.engine.interpreter import Interpreter
from kernel.engine.methods import EXECUTE_KEYS, execute_text
from kernel.engine.replies import INLINE_TEXT_MAX, success, text_in
from kernel.wire import serialize

CALL = {"op": "call", "cid": 3, "method": "execute"}


class Text(str):
    """A str subclass, as some libraries return."""


def executed(output):
    return {"id": 0, "number": 1, "input": {"raw": "print(x)", "translated": "print(x)"}, "stdout": output,
            "display": {"pprint": "1", "repr": "1"}}


@pytest.mark.parametrize("value", [None, 7, ["a", "b"], executed("hi\n"), {"k": [1, "x", {"y": None}]},
                                   "x" * INLINE_TEXT_MAX])
def test_small_json_rides_in_the_header(value):
    reply, buffers = success(CALL, value, text_in(value))
    assert reply["value"] == value and buffers == []


@pytest.mark.parametrize("value", [executed("x" * INLINE_TEXT_MAX), ["y" * 40_000, "z" * 40_000],
                                   {"k" * 40_000: "v" * 40_000}, [{"a": ["b" * 70_000]}],
                                   Text("x" * (INLINE_TEXT_MAX + 1)), {"s": Text("x" * (INLINE_TEXT_MAX + 1))}])
def test_more_text_than_fits_travels_pickled(value):
    reply, buffers = success(CALL, value, text_in(value))
    assert "value" not in reply
    assert serialize.loads(buffers) == value


def test_a_value_not_sent_as_json_is_pickled_whatever_its_size():
    reply, buffers = success(CALL, 7, None)
    assert "value" not in reply and serialize.loads(buffers) == 7


@pytest.mark.parametrize("code", ["pass", "1 + 1", "print('x' * 70_000)", "import sys; sys.stderr.write('e')",
                                  "'y' * 100"])
def test_an_execute_measures_its_result_as_the_walk_would(code):
    interp = Interpreter()
    result = interp.execute(code)
    measured = execute_text(result)
    walked = text_in(result, most=10**9)
    assert walked <= measured <= walked + EXECUTE_KEYS  # it may count all the keys a result can have
