"""The multiengine contract: %px, %autopx and %result in IPython's real InteractiveShell."""


import pytest

pytest.importorskip("IPython")

from kernel import client, magic  # noqa: E402


@pytest.fixture
def ip(shell, mec, capsys):
    """The shell with ``mec`` activated and nothing printed yet."""
    mec.activate()
    capsys.readouterr()
    yield shell
    for magics in shell.magics_manager.registry.values():
        if hasattr(magics, "disable_autopx"):
            magics.disable_autopx(quiet=True)
    magic._active = None


def run(ip, cell, capsys):
    result = ip.run_cell(cell, store_history=True)
    return result, capsys.readouterr().out


def test_activate_loads_the_extension(ip):
    assert "kernel.magic" in ip.extension_manager.loaded
    assert {"px", "result", "autopx"} <= set(ip.magics_manager.magics["line"])
    assert "px" in ip.magics_manager.magics["cell"]


def test_load_ext_then_activate(shell, mec, capsys):
    if "kernel.magic" in shell.extension_manager.loaded:
        shell.run_line_magic("unload_ext", "kernel.magic")
    shell.run_line_magic("load_ext", "kernel.magic")
    assert "kernel.magic" in shell.extension_manager.loaded
    magic._active = None
    capsys.readouterr()
    result, out = run(shell, "%px a = 1", capsys)
    assert out == magic.NO_CONTROLLER + "\n"
    result, out = run(shell, "%result", capsys)
    assert out == magic.NO_CONTROLLER + "\n"
    result, out = run(shell, "%autopx", capsys)
    assert out == magic.NO_AUTOPX_CONTROLLER + "\n"
    mec.activate()
    assert magic.active() is mec


def test_activate_outside_ipython_says_so(mec, monkeypatch, capsys):
    monkeypatch.setattr(magic, "_running_shell", lambda: None)
    mec.activate()
    assert capsys.readouterr().out == "The IPython Controller magics only work within IPython.\n"
    assert magic.active() is mec
    magic._active = None


def test_px_runs_on_the_engines_and_returns_the_result_list(ip, mec, capsys):
    result, out = run(ip, "%px a = 5", capsys)
    assert isinstance(result.result, client.ResultList)
    assert [r["number"] for r in result.result] == [1] * 4
    assert out.startswith("Parallel execution on engines: all\n")
    assert "<Results List>\n[0] In [1]: a = 5\n[1] In [1]: a = 5\n" in out
    assert mec.pull("a") == [5] * 4
    assert "a" not in ip.user_ns


def test_px_without_percent_and_with_output(ip, mec, capsys):
    result, out = run(ip, "px print(id * 10)", capsys)
    assert [r["stdout"] for r in result.result] == ["0\n", "10\n", "20\n", "30\n"]
    assert "[2] Out[1]: 20\n" in out


def test_px_honours_targets_and_block(ip, mec, capsys):
    mec.targets = [0, 2]
    result, out = run(ip, "%px b = 1", capsys)
    assert out.startswith("Parallel execution on engines: [0, 2]\n")
    assert [r["id"] for r in result.result] == [0, 2]
    mec.block = False
    result, out = run(ip, "%px c = 2", capsys)
    assert isinstance(result.result, client.PendingResult)
    assert [r["id"] for r in result.result.r] == [0, 2]


def test_px_cell_magic(ip, mec, capsys):
    result, out = run(ip, "%%px\nx = id\ny = x * 2\n", capsys)
    assert mec.pull("y") == [0, 2, 4, 6]


def test_px_errors_show_the_composite_error(ip, mec, capsys):
    result, out = run(ip, "%px 1/0", capsys)
    assert isinstance(result.error_in_exec, client.CompositeError)
    assert "[3:execute]: ZeroDivisionError: division by zero" in out


def test_result_magic(ip, mec, capsys):
    mec.execute("a = 1")
    mec.execute("print('second')")
    result, out = run(ip, "%result", capsys)
    assert [r["number"] for r in result.result] == [2] * 4
    assert "[0] Out[2]: second\n" in out
    result, out = run(ip, "%result 1", capsys)
    assert [r["input"]["raw"] for r in result.result] == ["a = 1"] * 4
    mec.targets = 1
    result, out = run(ip, "%result", capsys)
    assert [r["id"] for r in result.result] == [1]


def test_autopx_sends_every_cell_to_the_engines(ip, mec, capsys):
    _, out = run(ip, "%autopx", capsys)
    assert out == "Auto Parallel Enabled\nType %autopx to disable\n"
    count = ip.execution_count
    result, out = run(ip, "q = id + 100", capsys)
    assert isinstance(result.result, client.ResultList)
    assert out == repr(result.result) + "\n"
    result, out = run(ip, "for i in range(3):\n    q += 1\n", capsys)
    assert ip.execution_count == count + 2
    _, out = run(ip, "%autopx", capsys)
    assert out == "Auto Parallel Disabled\n"
    assert "q" not in ip.user_ns
    assert mec.pull("q") == [103, 104, 105, 106]
    result, _ = run(ip, "local_value = 1", capsys)
    assert ip.user_ns["local_value"] == 1


def test_autopx_honours_block_and_reports_errors(ip, mec, capsys):
    run(ip, "%autopx", capsys)
    result, out = run(ip, "x = = 1", capsys)
    assert isinstance(result.error_before_exec, SyntaxError)
    assert "SyntaxError" in out
    result, out = run(ip, "1/0", capsys)
    assert isinstance(result.error_in_exec, client.CompositeError)
    mec.block = False
    result, out = run(ip, "z = 3", capsys)
    assert isinstance(result.result, client.PendingResult)
    assert out == repr(result.result) + "\n"
    result.result.r
    run(ip, "autopx", capsys)  # automagic form switches it off too
    mec.block = True
    assert mec.pull("z") == [3] * 4
    assert [r["number"] for r in mec.get_result()] == [2] * 4  # the syntax error never left
