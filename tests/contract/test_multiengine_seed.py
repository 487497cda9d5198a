"""Every example of the seed chapter "IPython's multiengine interface", in its Python 3 form.

Each test follows one section of the chapter, in order, starting from freshly
reset engines (so the ``In [n]`` numbers are those of a new session). The
``print x`` statements become ``print(x)``, ``map`` is wrapped in ``list``,
and sleeps are shorter; where the chapter shows a result not there yet, the
engines wait for a file that the test creates once it has looked, instead of
sleeping longer than the look takes.
"""

import pytest

from kernel import client, magic


@pytest.fixture
def ipython(shell, mec, capsys):
    """Run cells as at the IPython prompt, with ``mec`` and ``client`` defined; return the output."""
    shell.user_ns.update(mec=mec, client=client)
    capsys.readouterr()

    def run(cell):
        result = shell.run_cell(cell, store_history=True)
        out = capsys.readouterr().out
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            raise AssertionError(f"{cell!r} failed: {out}") from error
        return result.result, out

    yield run
    magic._active = None


def listing(numbered_lines):
    return "<Results List>\n" + "".join(numbered_lines)


def test_creating_a_multiengine_client(backend, mec, monkeypatch, tmp_path):
    # In [2]: mec = client.MultiEngineClient()   (the FURL file in the security directory)
    security = tmp_path / "ipython" / "security"
    security.mkdir(parents=True)
    (security / "ipcontroller-mec.furl").write_text(open(backend.mec_furl).read())
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    default = client.MultiEngineClient()
    # In[2]: mec = client.MultiEngineClient('/path/to/my/ipcontroller-mec.furl')
    explicit = client.MultiEngineClient(backend.mec_furl)
    try:
        assert default.get_ids() == [0, 1, 2, 3]
        assert explicit.get_ids() == [0, 1, 2, 3]
    finally:
        default.close()
        explicit.close()


def test_quick_and_easy_parallelism(mec):
    serial_result = list(map(lambda x: x**10, range(32)))
    parallel_result = mec.map(lambda x: x**10, range(32))
    assert serial_result == parallel_result

    @mec.parallel()
    def f(x):
        return 10.0 * x**4

    assert f(range(32))[:3] == [0.0, 10.0, 160.0]


def test_blocking_execution(mec, capsys):
    assert repr(mec.execute("a=5")) == listing(f"[{i}] In [1]: a=5\n" for i in range(4))
    assert repr(mec.execute("b=10")) == listing(f"[{i}] In [2]: b=10\n" for i in range(4))
    assert repr(mec.execute("c=a+b", targets=[0, 2])) == listing(["[0] In [3]: c=a+b\n", "[2] In [3]: c=a+b\n"])
    assert repr(mec.execute("c=a-b", targets=[1, 3])) == listing(["[1] In [3]: c=a-b\n", "[3] In [3]: c=a-b\n"])
    assert repr(mec.execute("print(c)")) == listing(
        f"[{i}] In [4]: print(c)\n[{i}] Out[4]: {c}\n\n" for i, c in enumerate([15, -5, 15, -5]))
    result_dict = mec.execute("d=10; print(d)")
    for r in result_dict:
        print(r)
    assert capsys.readouterr().out == "".join(
        f"{{'id': {i}, 'number': 5, 'input': {{'raw': 'd=10; print(d)', 'translated': 'd=10; print(d)'}}, "
        f"'stdout': '10\\n'}}\n" for i in range(4))


def test_non_blocking_execution(mec, tmp_path):
    assert repr(mec.execute("import time")) == listing(f"[{i}] In [1]: import time\n" for i in range(4))
    pr = mec.execute("time.sleep(0.3)", block=False)
    assert repr(pr.get_result()) == listing(f"[{i}] In [2]: time.sleep(0.3)\n" for i in range(4))
    mec.push(dict(release=str(tmp_path / "release")))
    held = "while not __import__('os').path.exists(release): time.sleep(0.01)"
    pr = mec.execute(held, block=False)
    try:
        assert pr.get_result(block=False) is None
    finally:
        (tmp_path / "release").touch()
    assert repr(pr.r) == listing(f"[{i}] In [3]: {held}\n" for i in range(4))

    # barrier
    mec.block = False
    pr_list = [mec.execute("time.sleep(0.03)") for i in range(10)]
    mec.barrier(pr_list)
    assert repr(pr_list[0].r) == listing(f"[{i}] In [4]: time.sleep(0.03)\n" for i in range(4))

    # the block and targets attributes
    mec.targets = [0, 2]
    mec.block = False
    pr = mec.execute("a=5")
    assert repr(pr.r) == listing(["[0] In [14]: a=5\n", "[2] In [14]: a=5\n"])
    mec.targets = "all"
    mec.block = True
    numbers = [15, 14, 15, 14]
    assert repr(mec.execute("b=10; print(b)")) == listing(
        f"[{i}] In [{n}]: b=10; print(b)\n[{i}] Out[{n}]: 10\n\n" for i, n in enumerate(numbers))


def test_parallel_magic_commands(mec, ipython):
    # Make this MultiEngineClient active for parallel magic commands
    ipython("mec.activate()")
    ipython("mec.block=True")
    ipython("import numpy")
    value, out = ipython("%px import numpy")
    assert out.startswith("Parallel execution on engines: all\nOut[")
    assert out.endswith(listing(f"[{i}] In [1]: import numpy\n" for i in range(4)) + "\n")
    ipython("%px a = numpy.random.rand(2,2)")
    value, out = ipython("%px print(numpy.linalg.eigvals(a))")
    assert [r["number"] for r in value] == [3] * 4
    assert all(r["stdout"].startswith("[") for r in value)
    last, _ = ipython("%result")
    assert last == value

    ipython("mec.block=False")
    _, out = ipython("%autopx")
    assert out == "Auto Parallel Enabled\nType %autopx to disable\n"
    pending, out = ipython("max_evals = []")
    assert isinstance(pending, client.PendingResult) and out == repr(pending) + "\n"
    ipython("for i in range(100):\n"
            "    a = numpy.random.rand(10,10)\n"
            "    a = a+a.transpose()\n"
            "    evals = numpy.linalg.eigvals(a)\n"
            "    max_evals.append(evals[0].real)\n")
    _, out = ipython("%autopx")
    assert out == "Auto Parallel Disabled\n"
    ipython("mec.block=True")
    value, out = ipython('px print("Average max eigenvalue is: ", sum(max_evals)/len(max_evals))')
    assert all(r["stdout"].startswith("Average max eigenvalue is:  ") for r in value)
    assert "[3] Out[6]: Average max eigenvalue is:  " in out


def test_the_with_statement(mec, ipython, shell):
    # at the IPython prompt, as in the chapter
    ipython("with mec:\n"
            "    client.remote() # Required so the following code is not run locally\n"
            "    a = 10\n"
            "    b = 30\n"
            "    c = a+b\n")
    shown = repr(mec.get_result())
    # the block as typed, ending with its newline: hence the blank line, as in the chapter
    assert shown == listing(f"[{i}] In [1]: a = 10\nb = 30\nc = a+b\n\n" for i in range(4))
    assert mec.pull("c") == [40] * 4
    assert "c" not in shell.user_ns  # not run locally

    # and in a script
    with mec:
        client.remote()
        d = 1  # noqa: F841 - runs on the engines, not here
        e = d + id  # noqa: F821
    assert "d" not in locals()
    assert mec.pull("e") == [1, 2, 3, 4]


def test_moving_python_objects_around(mec, ipython):
    ipython("mec.activate()")
    assert mec.push(dict(a=1.03234, b=3453)) == [None, None, None, None]
    assert mec.pull("a") == [1.03234, 1.03234, 1.03234, 1.03234]
    assert mec.pull("b", targets=0) == [3453]
    assert mec.pull(("a", "b")) == [[1.03234, 3453], [1.03234, 3453], [1.03234, 3453], [1.03234, 3453]]
    assert mec.zip_pull(("a", "b")) == [(1.03234, 1.03234, 1.03234, 1.03234), (3453, 3453, 3453, 3453)]
    assert mec.push(dict(c="speed")) == [None, None, None, None]
    value, out = ipython("%px print(c)")
    assert "[0] Out[1]: speed\n\n[1] In [1]: print(c)\n" in out
    assert [r["stdout"] for r in value] == ["speed\n"] * 4

    mec.block = False
    pr = mec.pull("a")
    assert pr.r == [1.03234, 1.03234, 1.03234, 1.03234]

    # push and pull for functions
    mec.block = True

    def f(x):
        return 2.0 * x**4

    assert mec.push_function(dict(f=f)) == [None, None, None, None]
    assert repr(mec.execute("y = f(4.0)")) == listing(f"[{i}] In [2]: y = f(4.0)\n" for i in range(4))
    value, out = ipython("px print(y)")
    assert [r["stdout"] for r in value] == ["512.0\n"] * 4

    # dictionary interface
    mec["a"] = ["foo", "bar"]
    assert mec["a"] == [["foo", "bar"], ["foo", "bar"], ["foo", "bar"], ["foo", "bar"]]


def test_scatter_and_gather(mec, ipython):
    ipython("mec.activate()")
    assert mec.scatter("a", range(16)) == [None, None, None, None]
    value, out = ipython("px print(a)")
    assert "[0] Out[1]: [0, 1, 2, 3]\n" in out and "[3] Out[1]: [12, 13, 14, 15]\n" in out
    assert mec.gather("a") == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]

    # parallel list comprehensions
    assert mec.scatter("x", range(64)) == [None, None, None, None]
    value, out = ipython("px y = [i**10 for i in x]")
    assert "[3] In [2]: y = [i**10 for i in x]\n" in out
    y = mec.gather("y")
    assert y[:9] == [0, 1, 1024, 59049, 1048576, 9765625, 60466176, 282475249, 1073741824]


def test_parallel_exceptions(mec, capsys):
    mec.block = True
    with pytest.raises(client.CompositeError) as info:
        mec.execute("1/0")
    assert str(info.value) == "one or more exceptions from call to method: execute\n" + "\n".join(
        f"[{i}:execute]: ZeroDivisionError: division by zero" for i in range(4))

    with pytest.raises(ZeroDivisionError, match="division by zero"):
        try:
            mec.execute("1/0")
        except client.CompositeError as e:
            e.raise_exception()

    # what %debug shows on the instance
    with pytest.raises(client.CompositeError) as info:
        mec.execute("1/0")
    e = info.value
    assert {"elist", "message", "print_tracebacks", "raise_exception", "_get_engine_str"} <= set(dir(e))
    e.print_tracebacks()
    out = capsys.readouterr().out
    for i in range(4):
        assert f"[{i}:execute]: \nTraceback (most recent call last):\n" in out
    assert out.count("ZeroDivisionError: division by zero") == 4

    # the same in non-blocking mode
    mec.block = False
    pr = mec.execute("1/0")
    with pytest.raises(client.CompositeError, match="one or more exceptions from call to method: execute"):
        pr.r
