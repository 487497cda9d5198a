"""Futures, executors, remote tracebacks in IPython and timeline figures, without a cluster."""

import asyncio
import concurrent.futures
import itertools
import pickle
import sys
import types

import pytest

from kernel.client import progress
from kernel.client.executor import _Executor
from kernel.client.remote import CompositeError, RemoteTraceback, RenderRemote, rebuild, unwrap_error, \
    with_remote_cause
from kernel.client.results import PendingResult, done
from kernel.wire import serialize


def test_a_future_keeps_its_waiters_in_a_list():
    # RequestFuture arms itself when concurrent.futures.wait adds a waiter to this list
    assert type(concurrent.futures.Future()._waiters) is list


class Client:
    _connection = None


def test_a_complete_pending_result_is_a_done_future_and_awaitable():
    pr = done(Client(), [1, 2])
    assert isinstance(pr, concurrent.futures.Future)
    assert pr.done() and pr.result(0) == [1, 2] and pr.exception(0) is None
    assert pr.get_result() == [1, 2] and pr.r == [1, 2]
    assert not pr.cancel()

    async def main():
        return await pr

    assert asyncio.run(main()) == [1, 2]
    assert repr(pr) == "<PendingResult None (done)>"
    assert isinstance(PendingResult(Client(), (), None), concurrent.futures.Future)


def engine_error(code, engineid=3, method="execute"):
    try:
        exec(compile(code, "<string>", "exec"), {})
    except Exception as e:
        exc = e
    import traceback

    entry = {"id": engineid, "method": method, "etype": type(exc).__name__, "message": str(exc),
             "traceback": "".join(traceback.format_exception(exc))}
    return rebuild(entry, serialize.dumps(exc))


def test_a_remote_exception_renders_in_ipython_as_the_engines_traceback():
    exc = engine_error("def g():\n    return 1 / 0\ng()")
    assert isinstance(exc, ZeroDivisionError)
    lines = exc._render_traceback_()
    assert "[engine 3:execute] remote traceback:" in lines[0]
    assert lines[-1] == "ZeroDivisionError: division by zero"
    assert any("in g" in line for line in lines)
    again = pickle.loads(pickle.dumps(exc))  # the renderer travels with the exception
    assert again._render_traceback_() == lines
    assert RenderRemote(None, "")()[1:] == ["No traceback available"]


def test_a_composite_error_renders_every_engine():
    errors = [engine_error("1/0", engineid=i) for i in (0, 2)]
    composite = CompositeError("one or more exceptions from call to method: execute",
                               [(type(e), e, e.traceback_text) for e in errors])
    lines = composite._render_traceback_()
    assert "CompositeError: one or more exceptions" in lines[0]
    assert lines[1:3] == ["[0:execute]: ZeroDivisionError: division by zero",
                          "[2:execute]: ZeroDivisionError: division by zero"]
    text = "\n".join(lines)
    assert "[engine 0:execute] remote traceback:" in text and "[engine 2:execute] remote traceback:" in text


def test_ipython_shows_the_remote_traceback(capsys):
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.user_ns["exc"] = engine_error("def g():\n    return 1 / 0\ng()", engineid=1)
        shell.run_cell("raise exc")
    finally:
        InteractiveShell.clear_instance()
    shown = capsys.readouterr().out
    assert "[engine 1:execute] remote traceback:" in shown and "in g" in shown


def test_one_engines_error_unwraps_with_its_traceback_as_cause():
    exc = engine_error("1/0")
    unwrapped = unwrap_error(CompositeError("m", [(type(exc), exc, exc.traceback_text)]))
    assert unwrapped is exc and isinstance(exc.__cause__, RemoteTraceback)
    assert "ZeroDivisionError" in str(exc.__cause__)
    plain = ValueError("local")
    assert with_remote_cause(plain).__cause__ is None
    several = CompositeError("m", [(type(exc), exc, ""), (type(exc), exc, "")])
    assert unwrap_error(several) is several


class Local(_Executor):
    """An executor that runs each call here, at once: what the executors share, alone."""

    def __init__(self):
        super().__init__()
        self.submitted = 0

    def _submit(self, fn, args, kwargs):
        self.submitted += 1
        future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as e:
            future.set_exception(e)
        return future


def test_executor_map_is_ordered_chunked_and_lazy_with_a_buffer():
    ex = Local()
    assert list(ex.map(pow, range(5), [2] * 5)) == [0, 1, 4, 9, 16]
    assert ex.submitted == 5
    assert list(ex.map(abs, range(-7, 0), chunksize=3)) == [7, 6, 5, 4, 3, 2, 1]
    assert ex.submitted == 5 + 3
    lazy = ex.map(abs, itertools.count(), buffersize=2)
    assert ex.submitted == 8 + 2
    assert list(itertools.islice(lazy, 4)) == [0, 1, 2, 3]
    assert ex.submitted == 8 + 6


def test_executor_map_raises_the_first_error_and_checks_its_arguments():
    ex = Local()
    results = ex.map(lambda x: 1 / x, [1, 0, 2])
    assert next(results) == 1.0
    with pytest.raises(ZeroDivisionError):
        next(results)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="chunksize must be a positive int"):
            ex.map(abs, [1], chunksize=bad)
    with pytest.raises(ValueError, match="buffersize"):
        ex.map(abs, [1], buffersize=0)
    with pytest.raises(TypeError, match="takes a function"):
        ex.submit(5)


def test_executor_shutdown_refuses_new_calls():
    with Local() as ex:
        assert ex.submit(abs, -1).result() == 1
    with pytest.raises(RuntimeError, match="after shutdown"):
        ex.submit(abs, 1)


def test_a_timeline_without_a_path_is_a_picture_jupyter_shows():
    pytest.importorskip("matplotlib")
    from kernel.client.timeline import TimelineFigure, plot_timeline

    records = [{"taskid": 0, "engineid": 1, "started": 10.0, "finished": 11.0, "status": "succeeded",
                "failures": 0}]
    figure = plot_timeline(records)
    assert isinstance(figure, TimelineFigure) and figure.tasks == 1
    assert figure._repr_png_().startswith(b"\x89PNG")


def test_in_a_notebook_the_bar_is_tqdm_auto(monkeypatch):
    made = []

    class FakeBar:
        def __init__(self, **options):
            made.append(options)
            self.total = options["total"]

    monkeypatch.setitem(sys.modules, "tqdm.auto", types.SimpleNamespace(tqdm=FakeBar))
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    bar = progress.progress_bar(True, 10, "map")
    assert isinstance(bar.bar, FakeBar) and made[0]["total"] == 10
