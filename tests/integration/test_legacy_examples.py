"""The example scripts of IPython 0.10.2 (docs/examples/kernel), ported to Python 3
with the fewest changes (each file lists its own), run as programs against a real
cluster of four engines, as 0.10's documentation ran them: from the examples
directory, with ``ipcluster -n 4`` started there too.

Each test runs a script in its own process, in a copy of
tests/legacy_scripts/examples (its data files and helper modules beside it),
finding the controller through IPYTHONDIR; the engines work in the same copy
(``ipengine --work-dir``), so the files the scripts open on the engines are
there. The .ipy files run through ipy_runner.py, a real IPython shell fed one
statement at a time as 0.10's ``ipython file.ipy`` did. Matplotlib draws off
screen (MPLBACKEND=Agg).
"""

import ast
import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy
import pytest

from kernel import client
from kernel.errors import TaskAborted
from tests.harness import ProcessCluster, wait_for

EXAMPLES = Path(__file__).resolve().parents[1] / "legacy_scripts" / "examples"
IPY_RUNNER = Path(__file__).resolve().with_name("ipy_runner.py")


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    """A controller and four engines working in a copy of the examples directory."""
    work = tmp_path_factory.mktemp("examples") / "kernel"
    shutil.copytree(EXAMPLES, work)
    cluster = ProcessCluster(tmp_path_factory.mktemp("cluster"), engine_args=["--work-dir", str(work)])
    cluster.start_controller()
    cluster.start_engines(4)
    cluster.work = work
    yield cluster
    cluster.stop()


@pytest.fixture
def mec(examples):
    mec = examples.client()
    yield mec
    mec.close()


def run_example(cluster, name, stdin=None):
    """Run one example as a user would, in the examples directory: a .py with
    Python, a .ipy with IPython. Returns its output, after checking it succeeded."""
    argv = [str(IPY_RUNNER), name] if name.endswith(".ipy") else [name]
    env = dict(os.environ, IPYTHONDIR=str(cluster.dir), MPLBACKEND="Agg")
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, *argv], cwd=cluster.work, env=env, input=stdin,
                            capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, f"{name} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def printed_list(line, prefix):
    """The list a script printed after ``prefix``."""
    assert line.startswith(prefix), line
    return ast.literal_eval(line[len(prefix):])


def consecutive(ids, n):
    return len(ids) == n and ids == list(range(ids[0], ids[0] + n))


def test_every_example_says_where_it_comes_from_and_what_changed():
    for path in EXAMPLES.glob("*.*py"):
        head = path.read_text()[:600]
        assert f"# docs/examples/kernel/{path.name} of IPython 0.10.2, ported to Python 3." in head, path.name
        assert "# Changed from 0.10.2: " in head, path.name


def test_helloworld(examples):
    hello, world = run_example(examples, "helloworld.py").splitlines()
    ids = re.fullmatch(r"Submitted tasks: (\d+) (\d+)", hello).groups()
    assert int(ids[1]) == int(ids[0]) + 1
    assert world == "Hello, World!"


def test_multienginemap(examples):
    lines = run_example(examples, "multienginemap.py").splitlines()
    doubled = str([2 * x for x in range(10)])
    assert lines[0] == f"Simple, default map:  {doubled}"
    assert re.fullmatch(r"Submitted map, got PendingResult:  <PendingResult \d+ \((pending|done)\)>", lines[1])
    assert lines[2:] == [f"Using a mapper:  {doubled}", f"Using a parallel function:  {doubled}"]


def test_task1(examples):
    assert run_example(examples, "task1.py") == "a, b:  5 300\n"


def test_taskmap(examples):
    lines = run_example(examples, "taskmap.py").splitlines()
    doubled = str([2 * x for x in range(10)])
    assert lines[0] == f"Simple, default map:  {doubled}"
    assert consecutive(printed_list(lines[1], "Submitted tasks, got ids:  "), 10)
    assert lines[2:] == [f"Using a mapper:  {doubled}", f"Using a parallel function:  {doubled}"]


def test_task2_watches_the_queue_and_aborts_the_last_four_scheduled(examples):
    tc = client.TaskClient(examples.tc_furl)
    try:
        aborted_before = aborted(tc)
        out = run_example(examples, "task2.py")
        assert out.count("Queue status (vebose=False)\n") == 6
        assert out.count("Queue status (vebose=True)\n") == 13
        # the script ends while its last tasks still run: wait for the queue to drain
        wait_for(lambda: (lambda s: s["scheduled"] + s["pending"] == 0)(tc.queue_status()), timeout=60,
                 what="task2's tasks to finish")
        assert len(aborted(tc)) == len(aborted_before) + 4
    finally:
        tc.close()


def aborted(tc):
    failed = tc.queue_status(verbose=True)["failed"]
    return [t for t in failed if isinstance(tc.get_task_result(t).failure, TaskAborted)]


def test_mcdriver_prices_options_with_mcpricer_on_the_engines(examples):
    # the script reads every result's vp, ap, vc and ac: it fails unless all 25 tasks succeeded
    [line] = run_example(examples, "mcdriver.py").splitlines()
    assert consecutive(printed_list(line, "Submitted tasks:  "), 25)


TOP_WORDS = ["the 21", "of 10", "and 5", "is 4", "eye 4", "painter 3", "The 3", "without 2", "who 2", "water 2"]


def test_pwordfreq(examples, mec):
    # 0.10's script prints the serial counts twice (its last line passes freqs, not pfreqs)
    assert run_example(examples, "pwordfreq.py").splitlines() == [
        "Serial word frequency count:", *TOP_WORDS, "", "Parallel word frequency count:", *TOP_WORDS]
    # the parallel count, left on the engines, agrees with the serial one
    merged = Counter()
    for freqs in mec.pull("freqs"):
        merged.update(freqs)
    assert merged == Counter((examples.work / "davinci.txt").read_text().split())


def test_pwordfreq_skel(examples):
    assert run_example(examples, "pwordfreq_skel.py").splitlines() == [
        "Serial word frequency count:", *TOP_WORDS, "", "Parallel word frequency count:", *TOP_WORDS]


def test_nwmerge_merges_iterators_living_on_three_engines(examples):
    merged = str(sorted([*range(5, 20), *range(10), *range(15, 25)]))
    assert run_example(examples, "nwmerge.py").splitlines() == [
        "Engine IDs: [0, 1, 2, 3]", "Merge the local datasets:", merged, "Locally merge the remote sets:", merged]


def test_nwmerge_doctests():
    # the examples in mergesort's docstring, as 0.10 had them (print() aside)
    result = subprocess.run([sys.executable, "-m", "doctest", str(EXAMPLES / "nwmerge.py")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout


@pytest.fixture
def website(tmp_path):
    """A small web site on 127.0.0.1 for fetchparse's spider: three pages, a text
    file, a broken link and a link off the site."""
    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    (site / "index.html").write_text('<html><body><a href="a.html">A</a> <a href="sub/b.html">B</a> '
                                     '<a href="http://example.invalid/">away</a></body></html>')
    (site / "a.html").write_text('<html><body><p>A page<br><a href="index.html">home</a></body></html>')
    (site / "sub" / "b.html").write_text('<html><body><a href="../missing.html">gone</a> '
                                         '<a href="notes.txt">notes</a></body></html>')
    (site / "sub" / "notes.txt").write_text("not a page")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


def test_fetchparse_crawls_a_site_with_tasks(examples, website):
    out = run_example(examples, "fetchparse.py", stdin=website + "\n")
    assert out.startswith("Enter site to crawl: ")
    visited = {line[:-2] for line in out.splitlines() if line.endswith(" :")}
    pages = ["", "a.html", "sub/b.html", "index.html", "missing.html", "sub/notes.txt"]
    assert visited == {website + page for page in pages}
    assert "example.invalid" not in out  # found, but not on the site: not crawled


def load_phistogram():
    spec = importlib.util.spec_from_file_location("phistogram", EXAMPLES / "phistogram.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.phistogram


def test_phistogram_of_an_array_scattered_over_the_engines(mec):
    phistogram = load_phistogram()
    data = numpy.random.default_rng(10).normal(size=4000)
    mec.scatter("a", data)
    hist, lower_edges = phistogram(mec, "a", bins=8, rng=(-3.0, 3.0))
    expected, edges = numpy.histogram(data, 8, (-3.0, 3.0))
    assert hist.tolist() == expected.tolist()
    assert lower_edges[0].tolist() == edges.tolist()
    normed, _ = phistogram(mec, "a", bins=8, rng=(-3.0, 3.0), normed=True)
    assert numpy.allclose(normed, expected / expected.sum())


def test_rmt_ipy_times_the_serial_and_the_parallel_ensembles(examples, mec):
    lines = run_example(examples, "rmt.ipy").splitlines()
    assert lines[0] == "Distributing code to engines..."
    assert "per loop" in lines[1] and "per loop" in lines[3]
    assert lines[2] == "Running with 25 per engine."
    assert [len(d) for d in mec.pull("diffs")] == [25] * 4


def results_list(number, command, values):
    """The ResultList lines of ``command`` (engine command ``number``) printing ``values``."""
    return "".join(f"[{i}] In [{number}]: {command}\n[{i}] Out[{number}]: {v}\n\n" for i, v in enumerate(values))


def test_multiengine1_ipy(examples):
    out = run_example(examples, "multiengine1.ipy")
    lines = out.splitlines()
    tau = 2.0 * 3.141592653589793
    assert results_list(3, "print(a)", [tau] * 4) in out
    assert results_list(5, "print(b)", [0, 1, 2, 3]) in out
    caught = [line for line in lines if line.startswith("Caught ")]
    cleared = caught.count("Caught QueueCleared OK.")
    assert 1 <= cleared <= 4  # the command running when the queue was cleared is not cleared
    assert [c for c in caught if c != "Caught QueueCleared OK."] == [
        "Caught invalid engine ID OK.", "Caught 1/0 correctly.", "Caught 1/0 correctly.",
        "Caught IndexError ok.", "Caught ZeroDivisionError OK.", "Caught ZeroDivisionError OK.",
        "Caught ZeroDivisionError OK."]
    # %autopx: the statements between the two ran on the engines
    on = lines.index("Auto Parallel Enabled")
    off = lines.index("Auto Parallel Disabled")
    autopx = "\n".join(lines[on:off])
    assert autopx.count("In [12]: print(numpy.linalg.eigvals(a))") == 4
    assert autopx.count("Out[12]: [") == 4
    assert results_list(14, "print(a)", [5, 10, 5, 10]) in out
    assert "Parallel execution on engines: [0, 2]\n" in out and "Parallel execution on engines: [1, 3]\n" in out
    assert results_list(9, "print('hi')", ["hi"] * 4) in out
    assert lines.count("PendingResult object was cleared OK.") == 2
    assert lines[-1] == "The tests are done!"


def test_multiengine2_ipy(examples):
    lines = run_example(examples, "multiengine2.ipy").splitlines()
    assert lines[-3:] == ["Try a non-blocking get_result", "Now wait for all the results",
                          "The last pull got: " + str([[10, 30, "The dog went swimming."]] * 4)]


def test_parallel_pylab_ipy(examples):
    pytest.importorskip("matplotlib")
    out = run_example(examples, "parallel_pylab.ipy")
    assert out.count("Parallel execution on engines: all\n") == 5
    assert len(re.findall(r"^\[\d\] Out\[\d+\]: \[", out, re.MULTILINE)) == 8  # x[0:10] and y[0:10], 4 engines
    assert re.search(r"Out\[\d+\]: \[<matplotlib\.lines\.Line2D at 0x[0-9a-f]+>\]\n$", out)


def test_plotting_frontend_runs_the_backend_on_the_engines(examples):
    pytest.importorskip("matplotlib")
    assert run_example(examples, "plotting_frontend.py").splitlines() == [
        "number:  400000", "downsampled number:  4000"]


def test_plotting_backend_runs_alone(examples):
    lines = run_example(examples, "plotting_backend.py").splitlines()
    assert [line.split(":")[0] for line in lines if ":" in line] == ["downx", "downy", "downpx", "downpy"]
