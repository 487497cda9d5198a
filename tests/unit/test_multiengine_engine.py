"""The engine's side of the multiengine interface, without a network: interpreter, methods, capture."""

import sys
import threading
import types

import cloudpickle
import pytest

from kernel.engine import capture, methods
from kernel.engine.interpreter import Interpreter, rebind, shipped_by_value
from kernel.errors import InvalidProperty
from kernel.wire import serialize


def call(interp, method, args=None, value=None):
    header = {"cid": 1, "method": method, "args": args or {}}
    reply, buffers = methods.dispatch(interp, header, serialize.dumps(value) if value is not None else [])
    if reply["status"] != "ok":
        return reply
    return reply["value"] if "value" in reply else serialize.loads(buffers)


# -- execute ------------------------------------------------------------------------------


def test_execute_result_dict_and_counter():
    interp = Interpreter(engine_id=3)
    assert interp.execute("a=10") == {"id": 3, "number": 1, "input": {"raw": "a=10", "translated": "a=10"}}
    assert interp.get_result(1) == interp.get_result() == interp.history[1]
    with pytest.raises(ZeroDivisionError):
        interp.execute("1/0")
    assert interp.number == 2 and 2 not in interp.history
    assert interp.execute("b = a")["number"] == 3
    with pytest.raises(IndexError, match="index 2 out of range"):
        interp.get_result(2)


def test_every_top_level_expression_is_displayed_the_last_one_kept():
    interp = Interpreter(engine_id=0)
    result = interp.execute("1\n2\nx = 5\nNone")
    assert result["display"] == {"pprint": "2", "repr": "2"}
    result = interp.execute("for i in range(3):\n    i")
    assert result["display"]["repr"] == "2"
    assert "display" not in interp.execute("y = 1")


def test_output_is_captured_and_code_may_be_indented():
    interp = Interpreter(engine_id=0)
    result = interp.execute("    import sys\n    print('out')\n    print('err', file=sys.stderr)\n")
    assert result["stdout"] == "out\n" and result["stderr"] == "err\n"
    assert result["input"]["raw"].startswith("    import sys")


def test_reset_keeps_id_and_mpi():
    interp = Interpreter(engine_id=2, mpi="MPI")
    interp.execute("a = 1")
    interp.set_properties({"p": 1})
    interp.reset()
    assert interp.keys() == ["id", "mpi"]
    assert interp.pull(("id", "mpi")) == [2, "MPI"]
    assert interp.number == 0 and interp.properties == {}


def test_pull_errors_have_no_quotes_like_the_legacy_engines():
    with pytest.raises(NameError, match="^name nosuch is not defined$"):
        Interpreter().pull("nosuch")


# -- pushed functions ------------------------------------------------------------------------


def shipped(func):
    return cloudpickle.loads(cloudpickle.dumps(func))


def test_functions_shipped_as_code_are_rebound_to_the_namespace():
    secret = 7

    def f(x, y=2, *, z=3):
        return x * y * z + secret + offset  # noqa: F821 - given by the engine

    interp = Interpreter(engine_id=0)
    g = shipped(f)
    assert shipped_by_value(g)
    interp.push({"f": g, "offset": 1000})
    assert interp.execute("r = f(1)") and interp.pull("r") == 1 * 2 * 3 + 7 + 1000
    assert interp.namespace["f"].__globals__ is interp.namespace


def test_rebinding_adds_what_the_function_uses_without_overwriting():
    ns = {"k": "engine"}
    g = types.FunctionType((lambda: (k, j)).__code__, {"k": "client", "j": "client", "__name__": "x"})  # noqa: F821
    h = rebind(g, ns)
    assert h() == ("engine", "client")
    assert ns["j"] == "client"
    assert "__name__" not in ns


def test_module_functions_are_kept_as_they_are():
    import json

    assert not shipped_by_value(json.dumps)
    interp = Interpreter()
    interp.push({"d": json.dumps})
    assert interp.namespace["d"] is json.dumps


def test_id_cannot_be_pushed():
    interp = Interpreter(engine_id=1)
    interp.push({"id": 5})
    assert interp.namespace["id"] == 1


# -- methods ---------------------------------------------------------------------------------


def test_map_by_function_and_by_name():
    interp = Interpreter(engine_id=0)
    func = serialize.dumps(lambda x, y: x + y)
    items = serialize.dumps([(1, 2), (3, 4)])
    reply, buffers = methods.dispatch(interp, {"cid": 1, "method": "map", "args": {"func_n": len(func)}},
                                      func + items)
    assert serialize.loads(buffers) == [3, 7]
    interp.execute("import math")
    reply, buffers = methods.dispatch(interp, {"cid": 2, "method": "map", "args": {"name": "math.sqrt"}},
                                      serialize.dumps([(4,), (9,)]))
    assert serialize.loads(buffers) == [2.0, 3.0]
    reply, _ = methods.dispatch(interp, {"cid": 3, "method": "map", "args": {"name": "math.pi"}},
                                serialize.dumps([(4,)]))
    assert reply["etype"] == "TypeError" and "needs a function" in reply["message"]


def test_pull_names_the_value_that_cannot_be_sent():
    interp = Interpreter(engine_id=0)
    interp.push({"ok": 1, "lock": threading.Lock()})
    reply = call(interp, "pull", {"keys": ["ok", "lock"]})
    assert reply["etype"] == "TypeError"
    assert reply["message"].startswith("cannot send 'lock' back: a lock object cannot be pickled")


def test_push_that_cannot_be_unpickled_says_so():
    interp = Interpreter(engine_id=0)
    header = {"cid": 1, "method": "push", "args": {}}
    reply, _ = methods.dispatch(interp, header, [b"not a pickle"])
    assert reply["status"] == "error"
    assert "cannot unpickle the pushed values here" in reply["message"]


def test_exit_does_not_stop_the_engine_and_unknown_methods_fail():
    interp = Interpreter(engine_id=0)
    reply = call(interp, "execute", {"code": "raise SystemExit(2)"})
    assert reply["etype"] == "RuntimeError" and "exit(2)" in reply["message"]
    assert call(interp, "nosuch")["etype"] == "AttributeError"


def test_properties():
    interp = Interpreter()
    value = list(range(5))
    interp.set_properties({"a": value})
    value.append(5)
    assert interp.get_properties("a") == {"a": [0, 1, 2, 3, 4]}
    got = interp.get_properties()
    got["a"].append(9)
    assert interp.get_properties() == {"a": [0, 1, 2, 3, 4]}
    with pytest.raises(InvalidProperty, match="can't be a value"):
        interp.set_properties({"f": lambda _: None})
    assert interp.has_properties(["a", "b"]) == [True, False]
    interp.del_properties("a")
    assert interp.get_properties() == {}


# -- capture ---------------------------------------------------------------------------------


def test_each_thread_captures_its_own_output_and_display():
    results = {}
    barrier = threading.Barrier(4)

    def engine(n):
        interp = Interpreter(engine_id=n)
        barrier.wait()
        results[n] = [interp.execute(f"for i in range(50):\n    print({n})\n{n} * 100") for _ in range(5)]

    threads = [threading.Thread(target=engine, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for n in range(4):
        for result in results[n]:
            assert result["stdout"] == f"{n}\n" * 50
            assert result["display"]["repr"] == str(n * 100)


def test_output_of_other_threads_and_after_capture_goes_to_the_real_streams(capsys):
    with capture.Capture() as captured:
        print("captured")
        t = threading.Thread(target=print, args=("elsewhere",))
        t.start()
        t.join()
        sys.displayhook(42)
    print("after")
    assert captured.stdout.getvalue() == "captured\n"
    assert captured.display == {"pprint": "42", "repr": "42"}
    assert capsys.readouterr().out == "elsewhere\nafter\n"


def test_a_broken_repr_does_not_fail_the_command():
    class Bad:
        def __repr__(self):
            raise RuntimeError("no repr")

    interp = Interpreter(engine_id=0)
    interp.push({"Bad": Bad})
    result = interp.execute("Bad()")
    assert "unrepresentable Bad" in result["display"]["repr"]


# -- statement splitting ---------------------------------------------------------------------

SOURCES = [
    "a = 1",
    "a = 1\nb = 2\n3",
    "a=1; 2",
    "if a:\n    b = 1\nelif c:\n    pass\nelse:\n    d = 2\ne = 3",
    "try:\n    x\nexcept NameError:\n    pass\nelse:\n    1\nfinally:\n    2\n3",
    "@dec\n@dec2(\n    1)\ndef f(x):\n    return x\nf(1)",
    "class A:\n    x = 1\n\n    def f(self):\n        pass\n\n\nA()",
    "s = '''\nnot a\n    statement\n'''\nt = (1,\n2)\nu = 1 + \\\n 2",
    "for i in range(3):\n    if i:\n        continue\nelse:\n    pass\n# comment\n\nwhile False:\n    pass",
    "match x:\n    case 1:\n        y = 1\n    case _:\n        y = 2\ny",
    "with open(f) as g, open(h) as k:\n    pass\nasync def f():\n    await g()\nlambda: 1",
    "x = 1  # trailing comment\n\n\n# only comment\ny = 2\n",
]


@pytest.mark.parametrize("source", SOURCES)
def test_top_level_statements_agree_with_the_ast(source):
    import ast

    from kernel.engine.interpreter import top_level_statements

    def start(node):  # a decorated definition starts at its first decorator
        return min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])

    tree = ast.parse(source)
    spans = top_level_statements(source)
    starts = sorted({start(node) for node in tree.body})  # 'a=1; 2' is one line, run as one
    assert [first for first, _ in spans] == starts
    ends = {start(node): node.end_lineno for node in tree.body}
    for first, last in spans:
        assert last >= ends[first]


def test_tracebacks_keep_their_line_numbers():
    interp = Interpreter(engine_id=0)
    with pytest.raises(ZeroDivisionError) as e:
        interp.execute("a = 1\nb = 2\n\nc = 1/0")
    import traceback

    assert traceback.extract_tb(e.value.__traceback__)[-1][1:3] == (4, "<module>")
