"""The multiengine contract: CompositeError and what failures do (and do not do) to other work."""

import pytest

from kernel import client


def test_composite_error_text_is_the_legacy_one(mec):
    with pytest.raises(client.CompositeError) as e:
        mec.execute("1/0")
    assert str(e.value) == (
        "one or more exceptions from call to method: execute\n"
        "[0:execute]: ZeroDivisionError: division by zero\n"
        "[1:execute]: ZeroDivisionError: division by zero\n"
        "[2:execute]: ZeroDivisionError: division by zero\n"
        "[3:execute]: ZeroDivisionError: division by zero"
    )
    assert e.value.message == "one or more exceptions from call to method: execute"


def test_raise_exception_reraises_the_original_type(mec):
    with pytest.raises(client.CompositeError) as e:
        mec.execute("1/0")
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        e.value.raise_exception()
    with pytest.raises(ZeroDivisionError):
        e.value.raise_exception(3)
    with pytest.raises(IndexError, match="an exception with index 4 does not exist"):
        e.value.raise_exception(4)


def test_elist_and_engine_info(mec):
    with pytest.raises(client.CompositeError) as e:
        mec.execute("1/0", targets=[2, 0])
    elist = e.value.elist
    assert [etype for etype, _, _ in elist] == [ZeroDivisionError, ZeroDivisionError]
    assert [ev.engine_info for _, ev, _ in elist] == [
        {"engineid": 2, "method": "execute"}, {"engineid": 0, "method": "execute"}]
    assert elist[0][1]._ipython_engine_info == elist[0][1].engine_info
    assert "ZeroDivisionError" in elist[0][2]


def test_print_tracebacks_shows_each_remote_traceback(mec, capsys):
    with pytest.raises(client.CompositeError) as e:
        mec.execute("def f():\n    return 1/0\nf()", targets=[0, 1])
    e.value.print_tracebacks()
    out = capsys.readouterr().out
    assert out.count("Traceback (most recent call last)") == 2
    assert "[0:execute]: \n" in out and "[1:execute]: \n" in out
    assert "in f" in out and "ZeroDivisionError: division by zero" in out
    assert "kernel/engine" not in out  # the engine's own frames are left out
    e.value.print_tracebacks(1)
    assert capsys.readouterr().out.startswith("[1:execute]: \n")


@pytest.mark.parametrize("code, etype", [
    ("a=1/0", ZeroDivisionError),
    ("print(v)", NameError),
    ("l=[];l[0]", IndexError),
    ("d={};d['a']", KeyError),
    ("assert 1==0", AssertionError),
    ("import abababsdbfsbaljasdlja", ImportError),
    ("raise Exception()", Exception),
    ("a = = 1", SyntaxError),
    ("raise SystemExit(3)", RuntimeError),
])
def test_invalid_commands_raise_their_own_type(mec, code, etype):
    with pytest.raises(client.CompositeError) as e:
        mec.execute(code, targets=0)
    assert e.value.elist[0][0] is etype or issubclass(e.value.elist[0][0], etype)
    with pytest.raises(etype):
        e.value.raise_exception()


def test_exit_in_user_code_does_not_stop_the_engine(mec):
    with pytest.raises(client.CompositeError, match="the engine keeps running"):
        mec.execute("exit()", targets=1)
    assert mec.pull("id", targets=1) == [1]


def test_failure_on_some_engines_only(mec):
    with pytest.raises(client.CompositeError) as e:
        mec.execute("if id % 2: raise ValueError(f'odd {id}')\nx = id")
    assert str(e.value).splitlines()[1:] == [
        "[1:execute]: ValueError: odd 1", "[3:execute]: ValueError: odd 3"]
    assert mec.pull("x", targets=[0, 2]) == [0, 2]  # the others ran


def test_a_failure_does_not_cancel_or_clear_queued_work(mec):
    mec.block = False
    first = mec.execute("import time; time.sleep(0.2); 1/0")
    second = mec.execute("after = 'ran'")
    third = mec.push(dict(pushed=True))
    with pytest.raises(client.CompositeError):
        first.r
    assert [r["number"] for r in second.r] == [2] * 4
    assert third.r == [None] * 4
    assert mec.pull(("after", "pushed"), block=True) == [["ran", True]] * 4


def test_an_exception_that_cannot_be_pickled_still_reports(mec):
    code = ("import threading\n"
            "class Bad(Exception):\n"
            "    def __init__(self):\n"
            "        super().__init__('bad one')\n"
            "        self.lock = threading.Lock()\n"
            "raise Bad()")
    with pytest.raises(client.CompositeError) as e:
        mec.execute(code, targets=0)
    assert "Bad: bad one" in str(e.value)
    assert isinstance(e.value.elist[0][1], client.KernelError)  # stands in for the type
