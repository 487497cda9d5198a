"""A script's own code reaches engines that cannot import it, and its errors come back
with file names, line numbers and source lines: run as programs against a real cluster
whose engines work in another directory."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

HELPER = '''\
import math

OFFSET = 1


def inner(x):
    return x * 2


def double(x):
    return inner(x) + OFFSET - 1


def positive(properties):
    return True


def fail(x):
    return math.sqrt(-x)  # raises ValueError for x > 0
'''

SCRIPT = '''\
import json
from IPython.kernel import client
import helper

mec = client.MultiEngineClient()
tc = client.TaskClient()
out = {}
out["mec.map"] = mec.map(helper.double, range(4))
out["tc.map"] = tc.map(helper.double, range(4))
out["MapTask"] = tc.run(client.MapTask(helper.double, (5,), depend=helper.positive), block=True)
mec.push({"f": helper.double})
mec.execute("y = f(3)")
out["push"] = mec.pull("y")
try:
    tc.map(helper.fail, [1])
except ValueError as e:
    out["traceback"] = e.traceback_text
print(json.dumps(out))
'''


def run(cluster, directory, *args):
    env = dict(os.environ, IPYTHONDIR=str(cluster.dir))
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, *args], cwd=directory, env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{args} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def project(tmp_path):
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "helper.py").write_text(HELPER)
    (directory / "script.py").write_text(SCRIPT)
    return directory


def test_a_helper_module_beside_the_script_reaches_engines_that_cannot_import_it(cluster, project):
    mec = cluster.client()
    mec.execute("import os; here = os.getcwd()")
    assert all(here != str(project) for here in mec.pull("here"))
    out = json.loads(run(cluster, project, "script.py"))
    assert out["mec.map"] == out["tc.map"] == [0, 2, 4, 6]
    assert out["MapTask"] == 10
    assert out["push"] == [6, 6]
    tb = out["traceback"]
    assert f'File "{project / "helper.py"}", line 19, in fail' in tb
    assert "return math.sqrt(-x)  # raises ValueError for x > 0" in tb
    assert tb.rstrip().endswith("ValueError: math domain error")
    assert "kernel" + os.sep not in tb  # the engine's own frames stay hidden


def test_errors_of_code_from_python_c_show_lines_without_source(cluster, tmp_path):
    code = textwrap.dedent('''\
        from IPython.kernel import client
        def f(x):
            return 1 / x
        try:
            client.TaskClient().map(f, [0])
        except ZeroDivisionError as e:
            print(e.traceback_text)
        ''')
    tb = run(cluster, tmp_path, "-c", code)
    assert 'File "<string>", line 3, in f\nZeroDivisionError: division by zero' in tb


def test_errors_of_code_from_an_ipython_cell_show_the_cell_source(cluster, tmp_path):
    pytest.importorskip("IPython")
    cells = [
        "from IPython.kernel import client\nmec = client.MultiEngineClient()",
        "def f(x):\n    y = x + 1\n    return y / 0",
        "try:\n    mec.map(f, [1])\nexcept client.CompositeError as e:\n    print(e.elist[0][2])",
    ]
    driver = textwrap.dedent(f'''\
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance()
        for cell in {cells!r}:
            result = shell.run_cell(cell, store_history=True)
            result.raise_error()
        ''')
    tb = run(cluster, tmp_path, "-c", driver)
    assert ", line 3, in f\n    return y / 0\nZeroDivisionError: division by zero" in tb
    assert 'File "<ipython-input-' in tb
