"""ResultList, PendingResult and CompositeError without a cluster."""

import gc
import io

import pytest

from kernel.client.remote import CompositeError, collect, rebuild
from kernel.client.results import InvalidDeferredID, PendingResult, ResultList, _colours, done
from kernel.errors import EngineDied, KernelRemoteError, QueueCleared, ResultAlreadyRetrieved
from kernel.wire import serialize

# -- ResultList --------------------------------------------------------------------------------


def cmd(i, n, code, **extra):
    return {"id": i, "number": n, "input": {"raw": code, "translated": code}, **extra}


def test_result_list_repr_is_the_legacy_one():
    results = ResultList([
        cmd(0, 2, 'print(a); import sys; sys.stderr.write("err\\n")', stdout="5\n", stderr="err\n"),
        cmd(2, 7, "2+2", display={"pprint": "4", "repr": "4"}),
    ])
    assert repr(results) == (
        "<Results List>\n"
        '[0] In [2]: print(a); import sys; sys.stderr.write("err\\n")\n'
        "[0] Out[2]: 5\n\n"
        "[0] Err[2]:\n err\n"
        "[2] In [7]: 2+2\n"
    )
    assert str(results) == repr(results)
    assert repr(ResultList()) == "<Results List>\n"
    assert repr(ResultList([None])) == "<Results List>\nNone\n"


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_colours_only_on_a_terminal(monkeypatch):
    assert set(_colours(io.StringIO()).values()) == {""}
    colours = _colours(Terminal())
    assert colours["green"] == "\033[0;32m" and colours["normal"] == "\033[0m"
    monkeypatch.setattr("sys.stdout", Terminal())
    text = repr(ResultList([cmd(1, 1, "a=5", stdout="x\n")]))
    assert text == ("<Results List>\n\033[0;32m[1]\033[0;34m In [1]:\033[0m a=5\n"
                    "\033[0;32m[1]\033[0;31m Out[1]:\033[0m x\n\n")


def test_result_list_pretty_prints_as_its_repr():
    from IPython.lib.pretty import pretty

    results = ResultList([cmd(0, 1, "a=5")])
    assert pretty(results) == repr(results)


# -- PendingResult -----------------------------------------------------------------------------


class FakeConnection:
    def __init__(self):
        self.replies = {}
        self.forgotten = []

    def ready(self, rid):
        return rid in self.replies

    def outstanding(self, rid):
        return rid in self.replies or rid in self.expected

    expected = set()

    def wait(self, rid):
        if rid not in self.replies:
            raise ResultAlreadyRetrieved(f"no outstanding request {rid}")
        reply = self.replies.pop(rid)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def forget(self, rids):
        self.forgotten.extend(rids)


class FakeClient:
    def __init__(self):
        self._connection = FakeConnection()


def test_pending_result_waits_applies_callbacks_and_caches():
    c = FakeClient()
    c._connection.expected = {1}
    pr = PendingResult(c, [1], lambda replies: replies[0][0]["value"])
    assert pr.get_result(default="later", block=False) == "later"
    c._connection.replies[1] = ({"value": 20}, [])
    pr.add_callback(lambda v, k: v + k, 1)
    assert pr.r == 21
    assert pr.r == 21 and pr.called and not pr.raised
    assert pr.result_id == 1


def test_pending_result_reraises_its_error_every_time():
    c = FakeClient()
    c._connection.replies[1] = ({}, [])
    calls = []

    def finish(replies):
        calls.append(1)
        raise ValueError("bad")

    pr = PendingResult(c, [1], finish)
    for _ in range(3):
        with pytest.raises(ValueError, match="bad"):
            pr.r
    assert calls == [1] and pr.raised


def test_several_requests_are_all_taken_and_the_first_error_wins():
    c = FakeClient()
    c._connection.replies.update({1: ({"v": 1}, []), 2: KernelRemoteError("first"), 3: ({"v": 3}, [])})
    pr = PendingResult(c, [1, 2, 3], lambda replies: replies)
    with pytest.raises(KernelRemoteError, match="first"):
        pr.r
    assert c._connection.replies == {}


def test_a_flushed_result_is_an_invalid_deferred_id():
    pr = PendingResult(FakeClient(), [5], lambda replies: None)
    with pytest.raises(InvalidDeferredID, match="invalid deferred id: 5"):
        pr.get_result(block=False)


def test_a_dropped_pending_result_forgets_its_replies():
    c = FakeClient()
    PendingResult(c, [7, 8], lambda replies: None)
    gc.collect()
    assert c._connection.forgotten == [7, 8]
    fetched = PendingResult(c, [9], lambda replies: 1)
    c._connection.replies[9] = ({}, [])
    fetched.r
    del fetched
    gc.collect()
    assert c._connection.forgotten == [7, 8]


def test_done_and_ordering():
    c = FakeClient()
    finished = done(c, [])
    assert finished.r == [] and finished.result_id is None
    a, b = PendingResult(c, [3], None), PendingResult(c, [2], None)
    assert sorted([a, b]) == [b, a]


# -- CompositeError ----------------------------------------------------------------------------


def remote_error(eid, exc, method="execute", tb="Traceback ...\nZeroDivisionError: division by zero\n"):
    entry = {"id": eid, "status": "error", "etype": type(exc).__name__, "message": str(exc),
             "method": method, "traceback": tb}
    return entry, serialize.dumps(exc)


def test_collect_returns_values_or_raises_composite_error():
    ok = {"id": 0, "status": "ok", "value": 5}
    assert collect([ok], [[]], "pull") == [5]
    entry, pieces = remote_error(1, ZeroDivisionError("division by zero"))
    with pytest.raises(CompositeError) as e:
        collect([ok, entry], [[], pieces], "execute")
    assert str(e.value) == ("one or more exceptions from call to method: execute\n"
                            "[1:execute]: ZeroDivisionError: division by zero")
    etype, evalue, tb = e.value.elist[0]
    assert etype is ZeroDivisionError and evalue.engine_info == {"engineid": 1, "method": "execute"}
    assert evalue._ipython_traceback_text == tb
    assert e.value.args == (e.value.message, e.value.elist)


def test_controller_made_errors_keep_their_type():
    for etype in (QueueCleared, EngineDied):
        exc = rebuild({"id": 0, "etype": etype.__name__, "message": "gone", "method": "execute"}, [])
        assert type(exc) is etype and str(exc) == "gone"
    exc = rebuild({"id": 0, "etype": "WeirdError", "message": "x"}, [])
    assert isinstance(exc, KernelRemoteError) and str(exc) == "WeirdError: x"


def test_raise_exception_and_print_tracebacks(capsys):
    elist = [(ZeroDivisionError, rebuild(*remote_error(i, ZeroDivisionError("division by zero"))), f"tb {i}")
             for i in range(2)]
    error = CompositeError("one or more exceptions from call to method: execute", elist)
    with pytest.raises(ZeroDivisionError):
        error.raise_exception()
    with pytest.raises(IndexError, match="an exception with index 2 does not exist"):
        error.raise_exception(2)
    error.print_tracebacks()
    assert capsys.readouterr().out == "[0:execute]: \ntb 0\n\n[1:execute]: \ntb 1\n\n"
    error.print_tracebacks(1)
    assert capsys.readouterr().out == "[1:execute]: \ntb 1\n\n"
    with pytest.raises(IndexError):
        error.print_tracebacks(5)


def test_nested_composite_errors_are_flattened_and_unknown_engines_shown():
    inner = CompositeError("inner", [(ValueError, ValueError("v"), None)])
    outer = CompositeError("one or more exceptions from call to method: x", [(CompositeError, inner, None)])
    assert outer.elist == inner.elist
    assert str(outer).splitlines()[1] == "[Engine Exception]ValueError: v"
    assert CompositeError._engine_str(ValueError()) == "[Engine Exception]"
