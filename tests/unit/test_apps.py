"""Command-line parsing of ipcontroller and ipengine, without starting anything."""

import io
import shutil
import subprocess
import sys

import pytest

from kernel.apps import ipcontroller, ipengine


def run(main, argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("main, argv, message", [
    (ipcontroller.main, ["--client-port", "abc"], "port must be a number, not 'abc'"),
    (ipcontroller.main, ["--engine-port", "70000"], "out of range"),
    (ipcontroller.main, ["--scheme", "fastest"], "invalid choice: 'fastest'"),
    (ipcontroller.main, ["--bogus"], "unrecognized arguments: --bogus"),
    (ipengine.main, ["--furl-wait", "soon"], "argument --furl-wait: expected a positive number of seconds, not 'soon'"),
    (ipengine.main, ["--furl-wait", "0"], "expected a positive number of seconds, not '0'"),
    (ipcontroller.main, ["--poison-after", "-1"], "argument --poison-after: expected a whole number, 0 or more"),
])
def test_bad_flag_values_exit_2_with_one_line(main, argv, message):
    code, out, err = run(main, argv)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1


def test_engine_with_a_missing_furl_file_names_it(tmp_path):
    code, out, err = run(ipengine.main, ["--ipythondir", str(tmp_path), "--furl-wait", "0.1"])
    assert code == 2
    assert "ipcontroller-engine.furl" in err and "after 0.1 s" in err


def test_engine_with_a_malformed_furl_string(tmp_path):
    code, out, err = run(ipengine.main, ["--ipythondir", str(tmp_path), "--furl-file", "pb://nope"])
    assert code == 2
    assert "no '@'" in err


@pytest.mark.parametrize("program", ["ipcontroller", "ipengine"])
def test_installed_scripts_are_ours_and_have_help(program):
    path = shutil.which(program, path=str(__import__("pathlib").Path(sys.executable).parent))
    assert path is not None, f"{program} is not installed beside {sys.executable}"
    result = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "--ipythondir" in result.stdout


def test_engine_with_a_missing_work_dir_names_it(tmp_path):
    missing = tmp_path / "nowhere"
    code, out, err = run(ipengine.main, ["--ipythondir", str(tmp_path), "--work-dir", str(missing)])
    assert code == 2
    assert err == f"ipengine: --work-dir {missing}: No such file or directory\n"


def test_enter_work_dir_puts_the_current_directory_first_on_sys_path(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != ""])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w").mkdir()
    ipengine.enter_work_dir("w")  # relative to where the engine started
    assert __import__("os").getcwd() == str(tmp_path / "w")
    assert sys.path[0] == ""
    ipengine.enter_work_dir(None)
    assert sys.path.count("") == 1
