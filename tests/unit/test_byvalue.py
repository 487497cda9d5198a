"""The rule that decides which modules travel as code, and its overrides."""

import json
import pickle
import sys
import types

import numpy
import pytest

import kernel
from kernel.client import MapTask
from kernel.wire import byvalue, serialize


@pytest.fixture
def own_module(tmp_path, monkeypatch):
    """A module of the user's own, importable here, that the unpickling side will not have."""
    (tmp_path / "mine_for_test.py").write_text("def twice(x):\n    return helper(x) * 2\n\n"
                                                "def helper(x):\n    return x + 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import mine_for_test
    yield mine_for_test
    byvalue.send_by_reference(mine_for_test)
    byvalue._chosen.pop("mine_for_test", None)
    byvalue._decided.pop("mine_for_test", None)
    sys.modules.pop("mine_for_test", None)


def test_the_users_own_modules_are_told_apart_from_installed_ones(own_module):
    assert byvalue.users_own(own_module)
    for library in (json, numpy, kernel, serialize, pytest):
        assert not byvalue.users_own(library), library
    assert not byvalue.users_own(sys) and not byvalue.users_own(types.ModuleType("no_file"))


def test_a_function_of_the_users_own_module_travels_as_code(own_module):
    head = serialize.dumps(own_module.twice)[0]
    sys.modules.pop("mine_for_test")  # what an engine that cannot import it sees
    try:
        assert pickle.loads(head)(3) == 8
    finally:
        sys.modules["mine_for_test"] = own_module


def test_installed_modules_travel_by_reference():
    assert len(serialize.dumps(json.dumps)[0]) < 60


def test_send_by_reference_and_by_value_override_the_rule(own_module):
    byvalue.send_by_reference("mine_for_test")
    head = serialize.dumps(own_module.twice)[0]
    assert b"mine_for_test" in head and len(head) < 80
    byvalue.send_by_value(json)
    try:
        assert len(serialize.dumps(json.dumps)[0]) > 200
    finally:
        byvalue.send_by_reference(json)
        byvalue._chosen.pop("json")


def test_a_maps_function_is_pickled_once_and_each_task_carries_that_pickle(own_module, monkeypatch):
    monkeypatch.setattr(serialize, "_kept", {})  # unpickled here, not found kept from another test
    shared = serialize.Shared(own_module.twice)
    ready = serialize.dumps(own_module.twice)[0]
    heads = [serialize.dumps(MapTask(own_module.twice, (i,)), shared)[0] for i in range(3)]
    assert all(ready in head for head in heads)  # the one pickle, verbatim, inside each task's
    sys.modules.pop("mine_for_test")  # what an engine that cannot import it sees
    try:
        tasks = [serialize.loads([head]) for head in heads]
        assert [task.function(*task.args) for task in tasks] == [2, 4, 6]
    finally:
        sys.modules["mine_for_test"] = own_module


def test_what_needs_buffers_out_of_band_is_not_shared():
    array = numpy.arange(serialize.OUT_OF_BAND_MIN, dtype=numpy.uint8)
    shared = serialize.Shared(array)
    head, *buffers = serialize.dumps([array], shared)
    assert buffers and (serialize.loads([head, *buffers])[0] == array).all()


def test_the_receiver_unpickles_a_maps_function_once(own_module, monkeypatch):
    monkeypatch.setattr(serialize, "_kept", {})
    shared = serialize.Shared(own_module.twice)
    heads = [serialize.dumps(MapTask(own_module.twice, (i,)), shared)[0] for i in range(2)]
    first, second = (serialize.loads([head]) for head in heads)
    assert first.function is second.function and first.args != second.args


def test_a_big_shared_pickle_is_unpickled_each_time(own_module, monkeypatch):
    monkeypatch.setattr(serialize, "SHARED_KEPT_MAX", 10)
    monkeypatch.setattr(serialize, "_kept", {})
    shared = serialize.Shared(own_module.twice)
    heads = [serialize.dumps(MapTask(own_module.twice, (i,)), shared)[0] for i in range(2)]
    first, second = (serialize.loads([head]) for head in heads)
    assert first.function is not second.function  # kept objects would hold big captured globals
