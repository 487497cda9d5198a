"""The multiengine contract: ids, targets and block, execute, namespaces, push and pull."""

import pytest

from kernel import client
from kernel.client import ResultList


def plain(results):
    """A ResultList's repr with colours removed (they only appear on a terminal anyway)."""
    return repr(results)


# -- ids, targets and block ----------------------------------------------------------


def test_get_ids_and_len(mec):
    assert mec.get_ids() == [0, 1, 2, 3]
    assert len(mec) == 4


def test_defaults_are_all_and_blocking(mec):
    assert mec.targets == "all"
    assert mec.block is True


@pytest.mark.parametrize("targets, expected", [
    (0, [0]), (3, [3]), ([1, 3], [1, 3]), ((2, 0), [2, 0]), ("all", [0, 1, 2, 3]), ([], []),
])
def test_targets_forms_give_one_entry_per_target_in_order(mec, targets, expected):
    assert mec.pull("id", targets=targets) == expected


def test_a_repeated_target_gets_one_entry_per_mention(mec):
    assert mec.pull("id", targets=[1, 1, 0]) == [1, 1, 0]
    assert [r["number"] for r in mec.execute("x = 1", targets=[2, 2])] == [1, 2]


def test_instance_attributes_are_defaults_and_arguments_override_them(mec):
    mec.targets = [0, 2]
    assert mec.pull("id") == [0, 2]
    assert mec.pull("id", targets=1) == [1]
    mec.block = False
    pr = mec.pull("id")
    assert isinstance(pr, client.PendingResult)
    assert pr.r == [0, 2]
    assert mec.pull("id", block=True) == [0, 2]
    mec.targets, mec.block = "all", True
    assert mec.pull("id") == [0, 1, 2, 3]


@pytest.mark.parametrize("bad", ["some", 1.5, None.__class__, [0, "1"], {0: 1}, True])
def test_bad_targets_raise_value_error(mec, bad):
    with pytest.raises(ValueError, match="targets must be a str, list, tuple or int"):
        mec.execute("a=1", targets=bad)


def test_bad_block_raises_value_error(mec):
    with pytest.raises(ValueError, match="block must be True or False"):
        mec.execute("a=1", block="yes")


def test_unknown_engine_id_raises_invalid_engine_id_naming_it(mec):
    with pytest.raises(client.InvalidEngineID, match="Engine with id 99 is not registered"):
        mec.execute("a=1", targets=99)
    with pytest.raises(client.InvalidEngineID, match="Engine with id -1 is not registered"):
        mec.pull("id", targets=[0, -1])
    # nothing was queued on engine 0 by the failed call
    assert mec.execute("a=1", targets=0)[0]["number"] == 1


def test_no_engines_raises_with_a_hint_to_check_the_logs(fresh_backend):
    empty = fresh_backend(engines=0)
    mec = empty.mec()
    try:
        assert mec.get_ids() == []
        assert len(mec) == 0
        for call in (lambda: mec.execute("a=1"), lambda: mec.pull("a"), mec.queue_status,
                     lambda: mec.scatter("a", [1, 2]), lambda: mec.map(abs, [1])):
            with pytest.raises(client.NoEnginesRegistered, match=r"Check the logs in .*log"):
                call()
        assert mec.execute("a=1", targets=[]) == []
    finally:
        mec.close()


def test_a_bad_furl_names_the_file_or_the_bad_part(tmp_path):
    missing = tmp_path / "nope.furl"
    with pytest.raises(client.BadFURLError, match="nope.furl"):
        client.MultiEngineClient(str(missing))
    garbled = tmp_path / "garbled.furl"
    garbled.write_text("pb://short@127.0.0.1:1/abc\n")
    with pytest.raises(client.BadFURLError, match="garbled.furl.*tub id 'short'"):
        client.MultiEngineClient(str(garbled))
    with pytest.raises(client.BadFURLError, match="no '@'"):
        client.MultiEngineClient("pb://nothing-here")


def test_the_default_furl_file_is_in_the_security_directory(backend, monkeypatch, tmp_path):
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "empty"))
    with pytest.raises(client.BadFURLError, match="ipcontroller-mec.furl"):
        client.MultiEngineClient()
    security = tmp_path / "ipython" / "security"
    security.mkdir(parents=True)
    (security / "ipcontroller-mec.furl").write_text(open(backend.mec_furl).read())
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    mec = client.MultiEngineClient()
    try:
        assert mec.get_ids() == [0, 1, 2, 3]
    finally:
        mec.close()


# -- execute -------------------------------------------------------------------------


def test_execute_returns_a_result_list_of_legacy_dicts(mec):
    results = mec.execute("a=5")
    assert isinstance(results, ResultList)
    assert list(results) == [
        {"id": i, "number": 1, "input": {"raw": "a=5", "translated": "a=5"}} for i in range(4)
    ]
    assert plain(results) == (
        "<Results List>\n[0] In [1]: a=5\n[1] In [1]: a=5\n[2] In [1]: a=5\n[3] In [1]: a=5\n"
    )


def test_execute_captures_stdout_stderr_and_the_displayed_value(mec):
    code = 'print(id)\nimport sys; sys.stderr.write("err\\n")\n2 + 2'
    results = mec.execute(code, targets=[0, 2])
    assert results[0]["stdout"] == "0\n"
    assert results[1]["stdout"] == "2\n"
    assert results[0]["stderr"] == "err\n"
    assert results[0]["display"] == {"pprint": "4", "repr": "4"}
    assert plain(results) == (
        f"<Results List>\n[0] In [1]: {code}\n[0] Out[1]: 0\n\n[0] Err[1]:\n err\n"
        f"[2] In [1]: {code}\n[2] Out[1]: 2\n\n[2] Err[1]:\n err\n"
    )


def test_only_an_expression_shows_a_display_and_no_out_line(mec):
    results = mec.execute("2+2", targets=0)
    assert "stdout" not in results[0]
    assert plain(results) == "<Results List>\n[0] In [1]: 2+2\n"


def test_execute_counts_per_engine_and_namespaces_persist(mec):
    mec.execute("a=5")
    mec.execute("b=10")
    assert [r["number"] for r in mec.execute("c=a+b", targets=[0, 2])] == [3, 3]
    mec.execute("c=a-b", targets=[1, 3])
    results = mec.execute("print(c)")
    assert [r["stdout"] for r in results] == ["15\n", "-5\n", "15\n", "-5\n"]
    assert [r["number"] for r in results] == [4, 4, 4, 4]


def test_a_failed_command_counts_too_but_is_not_kept(mec):
    with pytest.raises(client.CompositeError):
        mec.execute("1/0", targets=0)
    assert mec.execute("a=1", targets=0)[0]["number"] == 2
    with pytest.raises(client.CompositeError) as e:
        mec.get_result(1, targets=0)
    assert "IndexError: index 1 out of range" in str(e.value)


def test_indented_and_multiline_code(mec):
    code = "    for i in range(3):\n        print(i)\n"
    assert mec.execute(code, targets=1)[0]["stdout"] == "0\n1\n2\n"
    assert mec.execute("def f(x):\n    return 2*x\ny = f(21)", targets=1)
    assert mec.pull("y", targets=1) == [42]


def test_execute_rejects_non_strings(mec):
    with pytest.raises(TypeError, match="execute takes a string of Python code, not int"):
        mec.execute(42)


def test_run_compiles_locally_then_executes(mec, tmp_path):
    script = tmp_path / "script.py"
    script.write_text("a = 10\nb=30\n")
    results = mec.run(str(script))
    assert [r["id"] for r in results] == [0, 1, 2, 3]
    assert mec.pull(("a", "b")) == [[10, 30]] * 4
    bad = tmp_path / "bad.py"
    bad.write_text("a = = 1\n")
    with pytest.raises(SyntaxError):
        mec.run(str(bad))
    with pytest.raises(FileNotFoundError):
        mec.run(str(tmp_path / "missing.py"))
    with pytest.raises(TypeError, match="run takes the name of a file, not int"):
        mec.run(0)
    assert mec.run(script, targets=1)[0]["id"] == 1  # a Path will do


# -- get_result, reset and keys --------------------------------------------------------


def test_get_result_is_the_stored_dict_and_honours_targets(mec):
    first = mec.execute("a=10")
    assert mec.get_result(1) == first
    mec.execute("print(a)", targets=[1, 2])
    latest = mec.get_result(targets=[2, 1])
    assert [r["id"] for r in latest] == [2, 1]
    assert [r["number"] for r in latest] == [2, 2]
    assert isinstance(latest, ResultList)
    assert mec.get_result(targets=3)[0]["input"]["raw"] == "a=10"


def test_get_result_out_of_range(mec):
    with pytest.raises(client.CompositeError) as e:
        mec.get_result(None, targets=0)
    assert isinstance(e.value.elist[0][1], IndexError)
    with pytest.raises(client.CompositeError, match="IndexError: index 10 out of range"):
        mec.get_result(10)
    with pytest.raises(TypeError, match="command number"):
        mec.get_result("1")


def test_reset_empties_the_namespace_keeping_id(mec):
    mec.push(dict(a=1, b=2))
    assert sorted(mec.keys(targets=0)[0]) == ["a", "b", "id", "mpi"]
    assert mec.reset() == [None] * 4
    assert mec.keys() == [["id", "mpi"]] * 4
    assert mec.pull("id") == [0, 1, 2, 3]
    with pytest.raises(client.CompositeError) as e:
        mec.pull("a")
    with pytest.raises(NameError, match="name a is not defined"):
        e.value.raise_exception()
    assert mec.execute("x=1", targets=0)[0]["number"] == 1


def test_reset_on_some_targets_only(mec):
    mec.push(dict(a=1))
    mec.reset(targets=[1, 3])
    assert mec.keys(targets=[0, 1]) == [["id", "mpi", "a"], ["id", "mpi"]]


# -- push, pull and the dictionary interface -------------------------------------------


def test_push_and_pull(mec):
    assert mec.push(dict(a=1.03234, b=3453)) == [None, None, None, None]
    assert mec.pull("a") == [1.03234] * 4
    assert mec.pull("b", targets=0) == [3453]
    assert mec.pull(("a", "b")) == [[1.03234, 3453]] * 4
    assert mec.pull(["a"]) == [1.03234] * 4
    assert mec.zip_pull(("a", "b")) == [(1.03234,) * 4, (3453,) * 4]
    assert mec.zip_pull(("a", "b"), targets=1) == [1.03234, 3453]


@pytest.mark.parametrize("value", [10, "hi there", 1.2342354, {"p": (1, 2)}, None, b"\x00\xff",
                                   {1, 2}, [1, [2, [3]]], 2**100, complex(1, 2)])
def test_values_round_trip_unchanged(mec, value):
    mec.push(dict(v=value), targets=[0, 3])
    assert mec.pull("v", targets=[0, 3]) == [value, value]


def test_pushing_none_values(mec):
    mec.push(dict(a=None, b=None), targets=0)
    assert mec.pull(("a", "b"), targets=0) == [[None, None]]


def test_push_cannot_change_the_engine_id(mec):
    mec.push(dict(id=99, a=1))
    assert mec.pull("id") == [0, 1, 2, 3]


def test_pull_of_a_missing_name(mec):
    with pytest.raises(client.CompositeError) as e:
        mec.pull("nosuch", targets=1)
    assert str(e.value).splitlines()[1] == "[1:pull]: NameError: name nosuch is not defined"


def test_dictionary_interface(mec):
    mec["a"] = ["foo", "bar"]
    assert mec["a"] == [["foo", "bar"]] * 4
    mec["z"] = "zz"
    assert mec["z"] == ["zz"] * 4
    mec.targets = [1, 2]
    mec["only"] = 5
    assert mec["only"] == [5, 5]
    with pytest.raises(TypeError, match="__getitem__ only takes strs"):
        mec[0]


def test_push_and_pull_reject_bad_arguments(mec):
    with pytest.raises(TypeError, match="push takes a dict, not list"):
        mec.push([("a", 1)])
    with pytest.raises(TypeError, match=r"keys must be names \(str\), not 1"):
        mec.push({1: "a"})
    with pytest.raises(TypeError, match="pull: keys must be a str or a list/tuple of str"):
        mec.pull(1)


def test_push_of_an_unpicklable_value_names_the_key(mec):
    import threading

    with pytest.raises(client.SerializationError, match="push: cannot send 'lock': a lock object"):
        mec.push(dict(fine=1, lock=threading.Lock()))
    with pytest.raises(TypeError):  # SerializationError is a TypeError
        mec.push(dict(lock=threading.Lock()))


def test_pull_of_an_unpicklable_value_names_the_key(mec):
    mec.execute("import threading; ok = 1; lock = threading.Lock()")
    with pytest.raises(client.CompositeError) as e:
        mec.pull(("ok", "lock"), targets=0)
    assert "[0:pull]: TypeError: cannot send 'lock' back: a lock object cannot be pickled" in str(e.value)
    assert mec.pull("ok", targets=0) == [1]  # the engine is fine


def test_a_plain_with_block_runs_locally_and_closes_the_connection(backend):
    with backend.mec() as mec:
        ran_here = True
        assert mec.get_ids() == [0, 1, 2, 3]
    assert ran_here
    assert mec._connection._sock is None
    assert mec.get_ids() == [0, 1, 2, 3]  # reconnects
    mec.close()


def test_close_and_reconnect(mec):
    mec.push(dict(a=1))
    mec.close()
    assert mec.pull("a") == [1] * 4
