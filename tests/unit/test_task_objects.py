"""Client-side task objects and the engine side of running one, without a cluster."""

import pickle
import re
import threading

import cloudpickle
import pytest

from kernel.client import taskclient
from kernel.client.task import (
    Dependency,
    MapTask,
    ResultNS,
    StringTask,
    TaskResult,
    depend,
    dependent,
    require,
)
from kernel.client.taskclient import TaskClient, _outcome
from kernel.engine import tasks as engine_tasks
from kernel.engine.interpreter import Interpreter
from kernel.errors import DependencyTimeout, EngineDied, SerializationError, UnmetDependency
from kernel.wire import serialize


def f(x, y=10):
    return x + y


# -- argument checks: TypeError naming the argument ---------------------------------------


@pytest.mark.parametrize("make, name", [
    (lambda: StringTask(b"a = 1"), "expression"),
    (lambda: StringTask(5), "expression"),
    (lambda: StringTask("a = 1", pull=5), "pull"),
    (lambda: StringTask("a = 1", pull=["a", 1]), "pull"),
    (lambda: StringTask("a = 1", push=[("a", 1)]), "push"),
    (lambda: StringTask("a = 1", clear_before="yes"), "clear_before"),
    (lambda: StringTask("a = 1", clear_after=1), "clear_after"),
    (lambda: StringTask("a = 1", retries="2"), "retries"),
    (lambda: StringTask("a = 1", retries=True), "retries"),
    (lambda: StringTask("a = 1", recovery_task="a = 2"), "recovery_task"),
    (lambda: StringTask("a = 1", depend=True), "depend"),
    (lambda: StringTask("a = 1", timeout="1"), "timeout"),
    (lambda: StringTask("a = 1", timeout=True), "timeout"),
    (lambda: StringTask("a = 1", after="3"), "after"),
    (lambda: StringTask("a = 1", follow=[1.5]), "follow"),
    (lambda: MapTask("asdfasdf"), "function"),
    (lambda: MapTask(f, 10), "args"),
    (lambda: MapTask(f, (10,), 30), "kwargs"),
    (lambda: MapTask(f, (10,), retries=None), "retries"),
])
def test_bad_arguments_raise_type_error_naming_them(make, name):
    with pytest.raises(TypeError, match=name):
        make()


@pytest.mark.parametrize("make, name", [
    (lambda: StringTask("a = 1", retries=-1), "retries"),
    (lambda: MapTask(f, (1,), retries=-5), "retries"),
    (lambda: StringTask("a = 1", timeout=-1), "timeout"),
    (lambda: StringTask("a = 1", timeout=float("nan")), "timeout"),
    (lambda: MapTask(f, (1,), timeout=float("inf")), "timeout"),
    (lambda: MapTask(f, (1,), timeout=-float("inf")), "timeout"),
    (lambda: MapTask(f, (1,), timeout=10 ** 400), "timeout"),
    (lambda: StringTask("a = 1", after=Dependency([1], success=False)), "after"),
])
def test_bad_values_raise_value_error_naming_them(make, name):
    with pytest.raises(ValueError, match=f"^{name} "):
        make()


def test_what_a_task_accepts_the_controller_accepts():
    """The client's checks and the declared TASK_SPEC agree at the edges."""
    from kernel.wire import messages

    for options in ({"retries": 0, "timeout": 0}, {"retries": 2 ** 40, "timeout": 1e300},
                    {"timeout": 0.001, "after": Dependency([3], success=False, failure=True)}):
        spec = StringTask("a = 1", **options).spec()
        assert messages.TASK_SPEC.check(spec, "spec") is spec


def test_options_are_kept_and_normalised():
    t = StringTask("a = 1", pull="a", push={"b": 2}, clear_before=True, retries=2, after=3, follow=[1, 2],
                   timeout=1.5)
    assert (t.pull, t.push, t.clear_before, t.clear_after, t.retries) == (["a"], {"b": 2}, True, False, 2)
    assert t.after == {3} and t.after.all and t.follow == {1, 2} and t.timeout == 1.5
    assert StringTask("a = 1", pull=("a", "b")).pull == ["a", "b"]
    m = MapTask(f, [1], {"y": 2})
    assert (m.args, m.kwargs) == ((1,), {"y": 2})
    assert StringTask("a = 1", timeout=0).timeout is None  # 0 means no timeout, as in the 0.11 seed


def test_spec_is_plain_data_for_the_controller():
    t = MapTask(f, (1,), retries=1, depend=lambda p: True, after=Dependency([4, 2], all=False), timeout=2)
    assert t.spec() == {"kind": "map", "retries": 1, "has_depend": True, "timeout": 2, "follow": None,
                        "after": {"ids": [2, 4], "all": False, "success": True, "failure": False}}


def test_dependency_switches():
    d = Dependency([1, 2], all=False, success=False, failure=True)
    assert d == {1, 2} and (d.all, d.success, d.failure) == (False, False, True)
    assert pickle.loads(pickle.dumps(d)).as_wire() == d.as_wire()
    assert Dependency(5) == {5}
    assert d != Dependency([1, 2]) and d == Dependency([2, 1], all=False, success=False, failure=True)
    assert Dependency.from_wire(d.as_wire()) == d
    with pytest.raises(TypeError):
        Dependency(["1"])
    with pytest.raises(ValueError, match="0 or more, not -1"):
        StringTask("a = 1", after=-1)  # refused here, before the controller would refuse the run


def test_the_controller_tracks_the_type_the_client_builds():
    from kernel.controller import dependencies, scheduler

    assert dependencies.Dependency is scheduler.Dependency is Dependency
    assert Dependency([1], success=False, failure=True).counts(False)
    assert not Dependency([1]).counts(False) and Dependency([1]).wanted() == "succeeded"


def test_recovery_chain_and_loops():
    last = StringTask("c = 3")
    t = StringTask("a = 1", recovery_task=MapTask(f, (1,), recovery_task=last))
    assert [type(x).__name__ for x in t.chain()] == ["StringTask", "MapTask", "StringTask"]
    a = StringTask("a = 1")
    a.recovery_task = StringTask("b = 1", recovery_task=a)
    with pytest.raises(ValueError, match="loops"):
        a.chain()
    copy = pickle.loads(cloudpickle.dumps(t))
    assert copy.recovery_task is None and copy.expression == "a = 1"  # each travels on its own


# -- TaskResult ---------------------------------------------------------------------------------


def test_task_result_success():
    tr = TaskResult(5, {"b": 42}, None, 1, submitted=1_000_000.0, completed=1_000_002.0, start=1_000_000.5,
                    stop=1_000_001.0)
    assert repr(tr) == "TaskResult[ID:5]:{'b': 42}"
    assert (tr.ns.b, tr["b"], tr.ns["b"], tr.failure, tr.raise_exception()) == (42, 42, 42, None, None)
    assert tr.keys == ["b"] and tr.engineid == 1 and tr.taskid == 5
    assert tr.duration == 0.5
    assert re.match(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d$", tr.submitted)
    assert (tr.submitted_at, tr.completed_at) == (1_000_000.0, 1_000_002.0)
    assert repr(tr.ns) == "NS{'b': 42}"
    with pytest.raises(AttributeError, match="cannot be changed"):
        tr.ns = ResultNS({})


def test_task_result_failure():
    tr = TaskResult(6, None, NameError("name 'b' is not defined"), 0, submitted=1.0, completed=3.0)
    assert tr.results == {} and tr.duration == 2.0
    assert repr(tr) == "TaskResult[ID:6]:NameError(name 'b' is not defined)"
    for access in (lambda: tr.ns, lambda: tr["b"], tr.raise_exception):
        with pytest.raises(NameError):
            access()


def test_outcome_of_a_cluster_failure_is_a_kernel_error():
    meta = {"taskid": 3, "status": "failed", "kind": "string", "engineid": 2, "submitted": 1.0, "completed": 2.0,
            "error": {"etype": "EngineDied", "message": "engine 2 died while running task 3", "traceback": ""}}
    tr = _outcome(meta, [])
    assert isinstance(tr.failure, EngineDied) and tr.failure.taskid == 3 and tr.engineid == 2
    with pytest.raises(DependencyTimeout, match="late"):
        _outcome(dict(meta, kind="map", error={"etype": "DependencyTimeout", "message": "late"}), [])


# -- functional dependencies and namespaces ------------------------------------------------------


def test_dependent_raises_unmet_dependency_where_g_is_false():
    wrapped = dependent(f, lambda ok: ok, False)
    with pytest.raises(UnmetDependency, match="False on this engine"):
        wrapped(1)
    assert dependent(f, lambda ok: ok, True)(1) == 11
    assert dependent(f, lambda: None)(1) == 11  # only False refuses
    assert depend(lambda x: x > 0, 1)(f)(1, 2) == 3
    assert wrapped.__name__ == "f"


def test_require_checks_imports_and_provides_the_modules():
    namespace = {}

    @require("colorsys")
    def hue():
        return colorsys.rgb_to_hsv(0, 1, 0)[0]  # noqa: F821

    hue = cloudpickle.loads(cloudpickle.dumps(hue))  # as on an engine: by value
    interp = Interpreter()
    assert interp.execute("import colorsys as c") and "colorsys" not in interp.namespace
    assert MapTask(hue).run_on(interp) == pytest.approx(1 / 3)
    assert interp.namespace["colorsys"] is interp.namespace["c"]  # imported into the namespace, as in 0.11
    with pytest.raises(UnmetDependency):
        require("kernel_no_such_module")(f)(1)
    with pytest.raises(TypeError):
        require(42)


def test_a_task_function_sees_the_engines_names_first_then_its_own():
    code = "def g():\n    return (a, b)\n\ndef engine_a():\n    return a == 'engine'\n"
    scope = {"a": "own", "b": "own"}
    exec(code, scope)
    interp = Interpreter()
    interp.push({"a": "engine"})
    assert MapTask(scope["g"]).run_on(interp) == ("engine", "own")  # as mec.map's: rebind
    assert interp.namespace["b"] == "own"  # added where the name was free
    wrapped = depend(scope["engine_a"])(scope["g"])  # the predicate sees the engine's names too
    assert MapTask(wrapped).run_on(interp) == ("engine", "own")
    assert MapTask(f, (1,)).run_on(interp) == 11  # importable functions keep their module's globals
    assert MapTask(len, ("ab",)).run_on(interp) == 2


# -- the engine side -------------------------------------------------------------------------------


def run(task, interp=None):
    interp = interp or Interpreter(engine_id=4)
    reply, out = engine_tasks.run_task(interp, {"cid": 1, "method": "run_task"}, serialize.dumps(task))
    return reply, out, interp


def test_engine_runs_a_string_task_and_reports_times():
    reply, out, interp = run(StringTask("a = id * 2", pull="a", push={"z": 1}))
    assert reply["status"] == "ok" and serialize.loads(out) == {"a": 8}
    assert reply["started"] <= reply["finished"]
    assert interp.namespace["z"] == 1


def test_engine_declines_when_depend_is_false_or_raises():
    for predicate in (lambda p: False, lambda p: p["missing"], lambda p: 1 / 0):
        reply, out, _ = run(StringTask("a = 1", depend=predicate))
        assert reply == {"op": "reply", "cid": 1, "status": "declined"} and out == []
    interp = Interpreter()
    interp.set_properties({"big": True})
    assert run(StringTask("a = 1", depend=lambda p: p["big"]), interp)[0]["status"] == "ok"


def test_engine_reports_unmet_dependencies_and_failures():
    def reject():
        raise UnmetDependency("no")

    assert run(MapTask(reject))[0]["status"] == "unmet"
    reply, out, _ = run(MapTask(lambda: 1 / 0))
    assert reply["status"] == "error" and reply["etype"] == "ZeroDivisionError"
    assert "1 / 0" in reply["traceback"] and isinstance(serialize.loads(out), ZeroDivisionError)
    reply, _ = engine_tasks.run_task(Interpreter(), {"cid": 1, "method": "run_task"}, [b"not a pickle"])
    assert reply["status"] == "error"


def test_engine_clears_the_namespace_before_and_after():
    interp = Interpreter()
    interp.push({"b": 1})
    reply, _, _ = run(StringTask("a = 1", clear_before=True, pull="b"), interp)
    assert reply["etype"] == "NameError"
    run(StringTask("a = 1", clear_after=True), interp)
    assert "a" not in interp.namespace
    run(StringTask("1/0", push={"c": 1}, clear_after=True), interp)
    assert "c" not in interp.namespace


def test_mapper_checks_its_options_at_once():
    tc = TaskClient._over(connection=None)
    with pytest.raises(ValueError, match="retries"):
        tc.mapper(retries=-1)
    with pytest.raises(ValueError, match="timeout"):
        tc.mapper(timeout=float("nan"))
    with pytest.raises(TypeError, match="depend"):
        tc.parallel(depend=3)


_LOCK = threading.Lock()


def _uses_a_lock(x):
    return _LOCK, x


@pytest.mark.parametrize("tasks", [[MapTask(_uses_a_lock, (1,))],
                                   [MapTask(taskclient._call_chunk, (_uses_a_lock, [(1,), (2,)]))]])
def test_a_task_that_cannot_be_pickled_names_the_global_that_cannot(tasks):
    with pytest.raises(SerializationError, match=r"cannot send MapTask\('.*'\): _uses_a_lock uses the global "
                                                 r"'_LOCK', a lock that cannot be pickled \(TypeError: "):
        taskclient.TaskClient._run_request(tasks)
