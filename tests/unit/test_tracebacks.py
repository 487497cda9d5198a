"""Remote tracebacks as data: what the engine captures, and what the client prints."""

import linecache
import pickle
import traceback

from kernel.wire import serialize, tracebacks


def defined_here(x):
    return 1 / x


def raised(func, *args):
    try:
        func(*args)
    except BaseException as e:
        return e
    raise AssertionError("no exception")


def test_a_function_sent_by_value_keeps_its_file_name_and_lines():
    copy = pickle.loads(serialize.dumps(lambda x: defined_here(x) + 1)[0])
    assert copy.__code__.co_filename == __file__
    links = tracebacks.capture(raised(copy, 0))
    frames = [frame[:3] for frame in links[0]["frames"]]
    assert frames[-1] == [__file__, defined_here.__code__.co_firstlineno + 1, "defined_here"]


def test_the_rendering_matches_pythons_own():
    exc = raised(defined_here, 0)
    expected = "".join(traceback.format_exception(exc))
    rendered = tracebacks.render(tracebacks.capture(exc))
    assert rendered.splitlines() == [line for line in expected.splitlines() if line.strip().strip("^~")]


def test_chained_exceptions_print_in_order_with_their_joins():
    def cause():
        try:
            defined_here(0)
        except ZeroDivisionError as e:
            raise KeyError("outer") from e

    def context():
        try:
            cause()
        except KeyError:
            raise ValueError("last")

    text = tracebacks.render(tracebacks.capture(raised(context)))
    first = text.index("ZeroDivisionError")
    second = text.index("direct cause")
    third = text.index("KeyError: 'outer'")
    fourth = text.index("During handling")
    assert first < second < third < fourth < text.index("ValueError: last")


def test_the_client_fills_in_lines_the_engine_did_not_have():
    links = [{"frames": [["<cell-7>", 2, "f", None], ["<string>", 1, "g", None]],
              "error": ["ValueError: x\n"], "link": None}]
    linecache.cache["<cell-7>"] = (30, None, ["def f():\n", "    return g()\n"], "<cell-7>")
    try:
        text = tracebacks.render(links)
    finally:
        del linecache.cache["<cell-7>"]
    assert text == ('Traceback (most recent call last):\n'
                    '  File "<cell-7>", line 2, in f\n    return g()\n'
                    '  File "<string>", line 1, in g\n'
                    'ValueError: x\n')


def test_frames_of_the_kernel_package_are_left_out():
    def through_kernel():
        serialize.loads([b"not a pickle"])

    links = tracebacks.capture(raised(through_kernel))
    assert [frame[2] for frame in links[0]["frames"]] == ["raised", "through_kernel"]
