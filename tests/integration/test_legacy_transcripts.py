"""IPython 0.10.2's parallel transcripts and the client-visible assertions of its
kernel tests, in their Python 3 form, against real clusters.

- docs/source/parallel: the sessions the seed walkthroughs do not already run
  (tests/contract/test_multiengine_seed.py and test_tasks_seed.py run the
  multiengine and task chapters): "Getting Started" of parallel_intro.txt, the
  TaskClient constructors of parallel_task.txt, and parallel_mpi.txt's psum
  session, as a .ipy file run by ipy_runner.py on an ``ipcluster mpiexec``
  cluster.
- IPython/kernel/tests: multienginetest.py and test_multienginefc.py (four
  engines, shared by the module), tasktest.py and test_taskfc.py (one engine,
  as there). 0.10 drove them through the Deferred-returning clients; here each
  becomes the same calls on the blocking clients: a Deferred's value is the
  call's value, ``block=False`` gives a PendingResult (0.10: a deferred id)
  whose ``get_result()`` is ``get_pending_deferred(id, True)``, and
  ``clear_pending_deferreds()`` is ``mec.flush()``. Where 0.10 had one engine
  and ``targets='all'``, the results have four entries. ``print v`` is
  ``print(v)``. Each test names the 0.10 test it ports.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
from numpy.testing import assert_array_equal

from IPython.kernel import client
from IPython.kernel.error import CompositeError, InvalidDeferredID, InvalidEngineID, NoEnginesRegistered
from tests.harness import ProcessCluster
from kernel.cluster import Cluster

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "legacy_scripts" / "transcripts"
IPY_RUNNER = Path(__file__).resolve().with_name("ipy_runner.py")


def listing(numbered_lines):
    return "<Results List>\n" + "".join(numbered_lines)


def raise_it(call, *args, **kwargs):
    """0.10's ``_raise_it``: re-raise the engine's own exception out of a CompositeError."""
    try:
        return call(*args, **kwargs)
    except CompositeError as e:
        e.raise_exception()


# -- docs/source/parallel/parallel_intro.txt, "Getting Started" ------------------------------------


def test_getting_started(mec):
    assert mec.get_ids() == [0, 1, 2, 3]
    assert repr(mec.execute('print("Hello World")')) == listing(
        f'[{i}] In [1]: print("Hello World")\n[{i}] Out[1]: Hello World\n\n' for i in range(4))


# -- docs/source/parallel/parallel_task.txt, "Creating a TaskClient instance" -----------------------


def test_creating_a_task_client(cluster4, monkeypatch, tmp_path):
    # In [2]: tc = client.TaskClient()   (the FURL file in ~/.ipython/security)
    security = tmp_path / "ipython" / "security"
    security.mkdir(parents=True)
    shutil.copy(cluster4.tc_furl, security / "ipcontroller-tc.furl")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    default = client.TaskClient()
    # In [2]: mec = client.TaskClient('/path/to/my/ipcontroller-tc.furl')
    explicit = client.TaskClient(cluster4.tc_furl)
    try:
        for tc in (default, explicit):
            assert tc.map(lambda x: x**10, range(32)) == list(map(lambda x: x**10, range(32)))
    finally:
        default.close()
        explicit.close()


# -- docs/source/parallel/parallel_mpi.txt, "Actually using MPI" ------------------------------------


def mpi_ready():
    if shutil.which("mpiexec") is None:
        return False
    probe = subprocess.run([sys.executable, "-c", "from mpi4py import MPI"], capture_output=True, timeout=60)
    return probe.returncode == 0


def test_the_mpi_psum_session(tmp_path):
    if not mpi_ready():
        pytest.skip("needs mpiexec and mpi4py")
    work = tmp_path / "work"
    shutil.copytree(TRANSCRIPTS, work)
    env = dict(os.environ, OMPI_MCA_rmaps_base_oversubscribe="1")
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    # $ ipcluster mpiexec -n 4   (in the directory of psum.py, engines started with --mpi=mpi4py)
    with Cluster(n=4, ipythondir=tmp_path / "ipython", launcher="mpiexec", mpi="mpi4py", work_dir=work, env=env,
                 timeout=120):
        env["IPYTHONDIR"] = str(tmp_path / "ipython")
        env.pop("PYTHONPATH", None)
        result = subprocess.run([sys.executable, str(IPY_RUNNER), "parallel_mpi.ipy"], cwd=work, env=env,
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        mec = client.MultiEngineClient(str(tmp_path / "ipython" / "security" / "ipcontroller-mec.furl"))
        total = sum(float(a.sum()) for a in mec.pull("a"))
        sums = mec.pull("s")
        mec.close()
    out = result.stdout
    assert out.count("Parallel execution on engines: all\n") == 5
    for command in ("import numpy as np", "a = np.random.rand(100)", "from psum import psum", "s = psum(a)"):
        assert out.count(f"]: {command}\n") == 4
    printed = [line.split("]: ", 1)[1] for line in out.splitlines() if "] Out[" in line]
    assert len(printed) == 4 and len(set(printed)) == 1  # the same sum on every engine
    assert sums == [pytest.approx(total)] * 4


# -- IPython/kernel/tests/multienginetest.py: IMultiEngineTestCase -----------------------------------

def testf(x):
    return 2.0*x


globala = 99


def testg(x):
    return globala*x


testf.__test__ = testg.__test__ = False  # 0.10's names, not tests


# engineservicetest.py's commands
validCommands = ['a=5',
                 'b=10',
                 'a=5; b=10; c=a+b',
                 'import math; 2.0*math.pi',
                 """def f():
    result = 0.0
    for i in range(10):
        result += i
""",
                 'if 1<2: a=5',
                 """import time
time.sleep(0.1)""",
                 """from math import cos;
x = 1.0*cos(0.5)""",  # Semicolons lead to Discard ast nodes that should be discarded
                 """s = 1
s = set()
   """,  # Trailing whitespace should be allowed.
                 """import math
math.cos(1.0)""",  # Test a method call with a discarded return value
                 """x=1.0234
a=5; b=10""",  # Test an embedded semicolon
                 """x=1.0234
a=5; b=10;"""  # Test both an embedded and trailing semicolon
                 ]

invalidCommands = [('a=1/0', ZeroDivisionError),
                   ('print(v)', NameError),
                   ('l=[];l[0]', IndexError),
                   ("d={};d['a']", KeyError),
                   ("assert 1==0", AssertionError),
                   ("import abababsdbfsbaljasdlja", ImportError),
                   ("raise Exception()", Exception)]


def interpreter_result(number, cmd, display=None):
    """What 0.10's ``Interpreter().execute(cmd)`` returned: the command, its number and
    the value it displayed, if any."""
    result = {"number": number, "input": {"raw": cmd, "translated": cmd}}
    if display is not None:
        result["display"] = {"pprint": display, "repr": display}
    return result


DISPLAYED = {'import math; 2.0*math.pi': repr(2.0 * 3.141592653589793),
             "import math\nmath.cos(1.0)": "0.5403023058681398"}


def test_one_engine_answers_every_method(mec):
    # testIEngineMultiplexerDeferreds (push_serialized and pull_serialized: below)
    mec.execute('a=5', targets=0)
    mec.push(dict(a=5), targets=0)
    mec.push(dict(a=5, b='asdf', c=[1, 2, 3]), targets=0)
    assert mec.pull(('a', 'b', 'c'), targets=0) == [[5, 'asdf', [1, 2, 3]]]
    assert mec.get_result(targets=0)[0]["input"]["raw"] == "a=5"
    mec.reset(targets=0)
    assert "a" not in mec.keys(targets=0)[0]
    mec.clear_queue(targets=0)
    mec.queue_status(targets=0)


@pytest.mark.parametrize("call", [
    lambda mec: mec.execute('a=5', targets=100),
    lambda mec: mec.push(dict(a=5), targets=100),
    lambda mec: mec.pull('a', targets=100),
    lambda mec: mec.reset(targets=100),
    lambda mec: mec.keys(targets=100),
    lambda mec: mec.queue_status(targets=100),
], ids=["execute", "push", "pull", "reset", "keys", "queue_status"])
def test_invalid_engine_id(mec, call):
    # testInvalidEngineID
    with pytest.raises(InvalidEngineID):
        call(mec)


def test_no_engines_registered_then_engines_come(cluster_factory):
    # testNoEnginesRegistered, then testGetIDs
    cluster = cluster_factory()
    cluster.start_controller()
    mec = cluster.client()
    try:
        for call in (lambda: mec.execute('a=5'), lambda: mec.push(dict(a=5)), lambda: mec.pull('a'),
                     lambda: mec.get_result(), lambda: mec.reset(), lambda: mec.keys(),
                     lambda: mec.queue_status()):
            with pytest.raises(NoEnginesRegistered):
                call()
        cluster.start_engines(1)
        assert mec.get_ids() == [0]
        cluster.start_engines(3)
        assert mec.get_ids() == [0, 1, 2, 3]
    finally:
        mec.close()


def test_execute_all(mec):
    # testExecuteAll and testGetResultAll
    for number, cmd in enumerate(validCommands, 1):
        result = mec.execute(cmd)
        expected = interpreter_result(number, cmd, DISPLAYED.get(cmd))
        assert [dict(r) for r in result] == [dict(expected, id=i) for i in range(4)]
        assert mec.get_result() == result


@pytest.mark.parametrize("cmd, exc", invalidCommands)
def test_execute_failures(mec, cmd, exc):
    # testExecuteFailuresMultiEng
    with pytest.raises(exc):
        raise_it(mec.execute, cmd)


def test_push_pull(mec):
    # testPushPull
    objs = [10, "hi there", 1.2342354, {"p": (1, 2)}]
    for obj in objs:
        mec.push(dict(key=obj), targets=0)
        assert mec.pull('key', targets=0) == [obj]
    mec.reset(targets=0)
    with pytest.raises(NameError):
        raise_it(mec.pull, 'a', targets=0)
    mec.push(dict(a=10, b=20))
    assert mec.pull(('a', 'b')) == 4*[[10, 20]]


def test_push_pull_all(mec):
    # testPushPullAll
    mec.push(dict(a=10))
    assert mec.pull('a') == [10, 10, 10, 10]
    mec.push(dict(a=10, b=20))
    assert mec.pull(('a', 'b')) == 4*[[10, 20]]
    mec.push(dict(a=10, b=20), targets=0)
    assert mec.pull(('a', 'b'), targets=0) == [[10, 20]]
    mec.push(dict(a=None, b=None), targets=0)
    assert mec.pull(('a', 'b'), targets=0) == [[None, None]]


def test_get_result_default_and_failure(mec):
    # testGetResultDefault
    mec.execute('a=5', targets=0)
    result = dict(mec.get_result(targets=0)[0])
    result.pop('id')
    assert result == interpreter_result(1, 'a=5')
    # testGetResultFailure (on an engine that ran nothing yet)
    for number in (None, 10):
        with pytest.raises(IndexError):
            raise_it(mec.get_result, number, targets=1)


def test_push_and_pull_functions(mec):
    # testPushFunction
    mec.push_function(dict(f=testf), targets=0)
    mec.execute('result = f(10)', targets=0)
    assert mec.pull('result', targets=0)[0] == testf(10)
    mec.push(dict(globala=globala), targets=0)
    mec.push_function(dict(g=testg), targets=0)
    mec.execute('result = g(10)', targets=0)
    assert mec.pull('result', targets=0)[0] == testg(10)
    # testPullFunction
    mec.push(dict(a=globala), targets=0)
    mec.push_function(dict(f=testf), targets=0)
    assert mec.pull_function('f', targets=0)[0](10) == testf(10)
    mec.execute("def g(x): return x*x", targets=0)
    r = mec.pull_function(('f', 'g'), targets=0)
    assert (r[0][0](10), r[0][1](10)) == (testf(10), 100)


def test_push_and_pull_functions_on_all(mec):
    # testPushFunctionAll
    mec.push_function(dict(f=testf))
    mec.execute('result = f(10)')
    assert mec.pull('result') == 4*[testf(10)]
    mec.push(dict(globala=globala))
    mec.push_function(dict(testg=testg))
    mec.execute('result = testg(10)')
    assert mec.pull('result') == 4*[testg(10)]
    # testPullFunctionAll
    mec.push_function(dict(f=testf))
    assert [func(10) for func in mec.pull_function('f')] == 4*[testf(10)]


def test_clear_queue_and_queue_status(mec):
    # testClearQueue, testQueueStatus (and their non-blocking forms)
    assert mec.clear_queue() == 4*[None]
    assert mec.clear_queue(block=False).get_result() == 4*[None]
    assert isinstance(mec.queue_status(targets=0)[0], tuple)
    assert isinstance(mec.queue_status(targets=0, block=False).get_result()[0], tuple)


PROPERTIES = dict(a=5, b='asdf', c=True, d=None, e=list(range(5)))


@pytest.mark.parametrize("block", [True, False], ids=["blocking", "non-blocking"])
def test_properties(mec, block):
    # testGetSetProperties, testClearProperties, testDelHasProperties
    def call(method, *args):
        result = getattr(mec, method)(*args, block=block)
        return result if block else result.get_result()

    call("set_properties", PROPERTIES)
    assert call("get_properties") == 4*[PROPERTIES]
    assert call("get_properties", ('c',)) == 4*[{'c': PROPERTIES['c']}]
    call("set_properties", dict(c=False))
    assert call("get_properties", ('c', 'd')) == 4*[dict(c=False, d=None)]
    call("clear_properties")
    assert call("get_properties") == 4*[{}]
    call("set_properties", PROPERTIES)
    call("del_properties", ('b', 'e'))
    assert call("has_properties", ('a', 'b', 'c', 'd', 'e')) == 4*[[True, False, True, True, False]]


def test_clear_pending_deferreds(mec):
    # IMultiEngineTestCase.test_clear_pending_deferreds and the coordinator's
    pending = [mec.execute('a=10', block=False), mec.push(dict(b=10), block=False),
               mec.pull(('a', 'b'), block=False), mec.scatter('a', range(16), block=False),
               mec.gather('a', block=False), mec.mapper(block=False).map(lambda x: x, range(16))]
    mec.flush()
    for pr in pending:
        with pytest.raises(InvalidDeferredID):
            pr.get_result()


# -- multienginetest.py: ISynchronousMultiEngineTestCase ---------------------------------------------


def test_synchronous_execute(mec):
    # testExecute
    assert len(mec.execute('a=5', targets=0, block=True)) == 1
    assert len(mec.execute('b=10')) == 4
    assert isinstance(mec.execute('c=30', block=False), client.PendingResult)  # 0.10: a deferred id
    assert len(mec.execute('d=[0,1,2]', block=False).get_result()) == 4


def test_synchronous_push_pull(mec):
    # testPushPull
    data = dict(a=10, b=1.05, c=list(range(10)), d={'e': (1, 2), 'f': 'hi'})
    mec.push({'data': data}, targets=0)
    assert mec.pull('data', targets=0) == [data]
    mec.push({'data': data})
    assert mec.pull('data') == 4*[data]
    mec.push({'data': data}, block=False).get_result()
    assert mec.pull('data', block=False).get_result() == 4*[data]
    mec.push(dict(a=10, b=20))
    assert mec.pull(('a', 'b')) == 4*[[10, 20]]


def test_synchronous_push_pull_function(mec):
    # testPushPullFunction
    mec.push_function({'testf': testf}, targets=0)
    assert mec.pull_function('testf', targets=0)[0](1.0) == testf(1.0)
    mec.execute('r = testf(10)', targets=0)
    assert mec.pull('r', targets=0)[0] == testf(10)
    mec.push_function({'testf': testf}, block=False).get_result()
    assert mec.pull_function('testf', block=False).get_result()[0](1.0) == testf(1.0)
    mec.execute("def g(x): return x*x", targets=0)
    r = mec.pull_function(('testf', 'g'), targets=0)
    assert (r[0][0](10), r[0][1](10)) == (testf(10), 100)


def test_synchronous_get_result(mec):
    # testGetResult
    result1 = dict(interpreter_result(1, 'a=10'), id=0)
    result2 = dict(interpreter_result(2, 'b=20'), id=0)
    mec.execute('a=10')
    assert mec.get_result()[0] == result1
    mec.execute('b=20')
    assert mec.get_result(1)[0] == result1
    assert mec.get_result(2, block=False).get_result()[0] == result2


@pytest.mark.parametrize("block", [True, False], ids=["blocking", "non-blocking"])
def test_reset_and_keys(mec, block):
    # testResetAndKeys
    def call(method, *args):
        result = getattr(mec, method)(*args, targets=0, block=block)
        return result if block else result.get_result()

    call("push", dict(a=10, b=20, c=list(range(10))))
    assert {'a', 'b', 'c'} <= set(call("keys")[0])
    call("reset")
    assert not {'a', 'b', 'c'} & set(call("keys")[0])


# -- multienginetest.py: the coordinator (scatter, gather, map) and the extras (zip_pull, run) ------


@pytest.mark.parametrize("block", [True, False], ids=["blocking", "non-blocking"])
def test_scatter_gather(mec, block):
    # testScatterGather, testScatterGatherNumpy and their non-blocking forms
    def call(method, *args):
        result = getattr(mec, method)(*args, block=block)
        return result if block else result.get_result()

    call("scatter", 'a', range(16))
    assert call("gather", 'a') == list(range(16))
    a = numpy.arange(16)
    call("scatter", 'a', a)
    assert_array_equal(call("gather", 'a'), a)
    with pytest.raises(NameError):
        raise_it(call, "gather", 'asdf')


def test_map(mec):
    # testMap
    def f(x):
        return x**2

    data = list(range(16))
    assert mec.map(f, data) == [f(x) for x in data]


@pytest.mark.parametrize("block", [True, False], ids=["blocking", "non-blocking"])
def test_zip_pull(mec, block):
    # testZipPull, testZipPullNonblocking (0.10 checked nothing: assert_(r, message))
    mec.push(dict(a=10, b=20))
    result = mec.zip_pull(('a', 'b'), block=block)
    assert (result if block else result.get_result()) == [(10, 10, 10, 10), (20, 20, 20, 20)]


@pytest.mark.parametrize("block", [True, False], ids=["blocking", "non-blocking"])
def test_run(mec, tmp_path, block):
    # testRun, testRunNonblocking
    fname = tmp_path / 'foo.py'
    fname.write_text('a = 10\nb=30')
    result = mec.run(str(fname), block=block)
    if not block:
        result.get_result()
    assert mec.pull(('a', 'b')) == 4*[[10, 30]]


# -- IPython/kernel/tests/test_multienginefc.py -------------------------------------------------------


def test_mapper(mec):
    m = mec.mapper()
    assert m.multiengine is mec
    assert (m.dist, m.targets, m.block) == ('b', 'all', True)


def test_map_default_and_noblock(mec):
    # test_map_default, test_map_noblock
    assert mec.mapper().map(lambda x: 2*x, range(10)) == [2*x for x in range(10)]
    assert mec.map(lambda x: 2*x, range(10)) == [2*x for x in range(10)]
    assert mec.mapper(block=False).map(lambda x: 2*x, range(10)).get_result() == [2*x for x in range(10)]


@pytest.mark.parametrize("which", ["mec", "tc"])
def test_mapper_and_parallel_fail(request, which):
    # test_multienginefc.py and test_taskfc.py: test_mapper_fail, test_parallel_fail
    rc = request.getfixturevalue(which)
    with pytest.raises(ZeroDivisionError):
        raise_it(rc.mapper().map, lambda x: 1/0, range(10))

    @rc.parallel()
    def f(x):
        return 1/0

    with pytest.raises(ZeroDivisionError):
        raise_it(f, range(10))


def test_parallel(mec):
    # test_parallel, test_parallel_noblock
    @mec.parallel()
    def f(x):
        return 2*x

    assert f(range(10)) == [2*x for x in range(10)]

    @mec.parallel(block=False)
    def g(x):
        return 2*x

    assert g(range(10)).get_result() == [2*x for x in range(10)]


# -- IPython/kernel/tests/tasktest.py and test_taskfc.py: one engine ---------------------------------


@pytest.fixture(scope="module")
def one_engine(tmp_path_factory):
    cluster = ProcessCluster(tmp_path_factory.mktemp("one-engine"))
    cluster.start_controller()
    cluster.start_engines(1)
    yield cluster
    cluster.stop()


@pytest.fixture
def tc(one_engine):
    tc = client.TaskClient(one_engine.tc_furl)
    yield tc
    tc.close()


@pytest.fixture
def mec1(one_engine):
    mec = one_engine.client()
    mec.reset()
    yield mec
    mec.close()


def test_task_ids(tc):
    # test_task_ids (0, 1, 2, 3 on 0.10's fresh controller)
    ids = [tc.run(client.StringTask('a=5')) for _ in range(4)]
    assert ids == list(range(ids[0], ids[0] + 4))


def test_abort(tc):
    # test_abort, test_abort_type
    with pytest.raises(IndexError):
        tc.abort(10**6)  # an id never given out (0.10: 0, before any task)
    tid = tc.run(client.StringTask('a=5'))
    tc.get_task_result(tid, block=True)
    with pytest.raises(IndexError):
        tc.abort(tid)
    with pytest.raises(TypeError):
        tc.abort('asdfadsf')


def test_clear_before_and_after(tc, mec1):
    t = client.StringTask('a=1', clear_before=True, pull='b', clear_after=True)
    mec1.execute('b=1', targets=0)
    tr = tc.get_task_result(tc.run(t), block=True)
    assert isinstance(tr.failure, NameError)
    with pytest.raises(NameError):
        raise_it(mec1.pull, 'a', targets=0)


def test_simple_retries(tc, mec1):
    t = client.StringTask("i += 1\nassert i == 16", pull='i', retries=10)
    t2 = client.StringTask("i += 1\nassert i == 16", pull='i', retries=10)
    mec1.execute('i=0', targets=0)
    with pytest.raises(AssertionError):
        tc.get_task_result(tc.run(t), block=True).ns.i  # 11 tries: i == 11
    assert tc.get_task_result(tc.run(t2), block=True).ns.i == 16


def test_recovery_tasks(tc):
    t = client.StringTask("i=16", pull='i')
    t2 = client.StringTask("raise Exception", recovery_task=t, retries=2)
    assert tc.get_task_result(tc.run(t2), block=True).ns.i == 16


def test_setup_ns(tc, mec1):
    mec1.execute('a=0', targets=0)
    ns = dict(a=1, b=0)
    t = client.StringTask("", push=ns, pull=['a', 'b'])
    tr = tc.get_task_result(tc.run(t), block=True)
    assert {'a': tr.ns.a, 'b': tr['b']} == ns


def test_string_task_results(tc, mec1):
    tr = tc.get_task_result(tc.run(client.StringTask('a=5', pull='a')), block=True)
    assert (tr.ns.a, tr['a'], tr.failure, tr.raise_exception()) == (5, 5, None, None)
    tr = tc.get_task_result(tc.run(client.StringTask('7=5')), block=True)
    with pytest.raises(SyntaxError):
        tr.ns
    tr = tc.get_task_result(tc.run(client.StringTask('', pull='b')), block=True)
    with pytest.raises(NameError):
        tr.ns


def test_map_task(tc):
    # test_map_task, test_map_task_failure, test_map_task_args
    assert tc.get_task_result(tc.run(client.MapTask(lambda x: 2*x, (10,))), block=True) == 20
    assert tc.get_task_result(tc.run(client.MapTask(lambda: 20)), block=True) == 20
    assert tc.get_task_result(tc.run(client.MapTask(lambda x: x, (), {'x': 20})), block=True) == 20
    with pytest.raises(ZeroDivisionError):
        tc.get_task_result(tc.run(client.MapTask(lambda x: 1/0, (10,))), block=True)
    for args in (('asdfasdf',), (lambda x: x, 10), (lambda x: x, (10,), 30)):
        with pytest.raises(TypeError):
            client.MapTask(*args)


def test_clear(tc):
    tid = tc.run(client.MapTask(lambda x: 2*x, (10,)))
    assert tc.get_task_result(tid, block=True) == 20
    tc.clear()
    with pytest.raises(IndexError):
        tc.get_task_result(tid, block=True)


@pytest.mark.parametrize("cmd, nframes", [("""
def fail():
    raise IOError('failure test')

result = fail()
""", 2), ("""
def boom():
    raise IOError('failure test')

def crash():
    boom()

def fail():
    crash()

result = fail()
""", 4)], ids=["2 frames", "4 frames"])
def test_traceback(tc, cmd, nframes):
    # test_traceback, test_traceback2: the failure keeps the frames of the user's code
    tr = tc.get_task_result(tc.run(client.StringTask(cmd)), block=True)
    with pytest.raises(IOError):
        tr.raise_exception()
    frames = [line for line in tr.failure.traceback_text.splitlines() if line.startswith('  File "')]
    assert len(frames) == nframes


def test_task_mapper(tc):
    # test_taskfc.py test_mapper
    m = tc.mapper()
    assert m.task_controller is tc
    assert (m.clear_before, m.clear_after, m.retries, m.recovery_task, m.depend, m.block) == (
        False, False, 0, None, None, True)


def test_task_map_default_and_noblock(tc):
    # test_map_default, test_map_noblock (0.10: the ids 0..9 of a fresh controller)
    assert tc.mapper().map(lambda x: 2*x, range(10)) == [2*x for x in range(10)]
    assert tc.map(lambda x: 2*x, range(10)) == [2*x for x in range(10)]
    ids = tc.mapper(block=False).map(lambda x: 2*x, range(10))
    assert ids == list(range(ids[0], ids[0] + 10))


def test_task_parallel(tc):
    # test_parallel, test_parallel_noblock (ids)
    @tc.parallel()
    def f(x):
        return 2*x

    assert f(range(10)) == [2*x for x in range(10)]

    @tc.parallel(block=False)
    def g(x):
        return 2*x

    ids = g(range(10))
    assert ids == list(range(ids[0], ids[0] + 10))


# -- 0.10 modules the tests imported: IPython.kernel.newserialized, IPython.kernel.parallelfunction ----


def test_push_pull_serialized(mec):
    # IMultiEngineTestCase.testPushPullSerialized and ISynchronousMultiEngineTestCase.testPushPullSerialized
    from IPython.kernel import newserialized

    def unserialized(serial):
        return newserialized.IUnSerialized(serial).getObject()

    for obj in [10, "hi there", 1.2342354, {"p": (1, 2)}]:
        mec.push_serialized(dict(key=newserialized.serialize(obj)), targets=0)
        assert unserialized(mec.pull_serialized('key', targets=0)[0]) == obj
    mec.push(dict(a=10, b=list(range(5))), targets=0)
    assert [unserialized(s) for s in mec.pull_serialized(('a', 'b'), targets=0)[0]] == [10, list(range(5))]
    dikt = dict(a=10, b='hi there', c=1.2345, d={'p': (1, 2)})
    sdikt = {k: newserialized.serialize(v) for k, v in dikt.items()}
    for block in (True, False):
        def call(method, *args):
            result = getattr(mec, method)(*args, targets=0, block=block)
            return result if block else result.get_result()

        call("push_serialized", dict(a=sdikt['a']))
        assert mec.pull('a', targets=0)[0] == dikt['a']
        assert unserialized(call("pull_serialized", 'a')[0]) == dikt['a']
        call("push_serialized", sdikt)
        assert [unserialized(s) for s in call("pull_serialized", list(sdikt.keys()))[0]] == list(dikt.values())
        call("reset")
        with pytest.raises(NameError):
            raise_it(call, "pull_serialized", 'a')
    # testInvalidEngineID and testNoEnginesRegistered, the two serialized calls
    with pytest.raises(InvalidEngineID):
        mec.push_serialized(dict(a=newserialized.serialize(10)), targets=100)
    with pytest.raises(InvalidEngineID):
        mec.pull_serialized('a', targets=100)


def test_push_pull_serialized_arrays_and_plain_values(mec):
    # what 0.10 could not do over the network: an ndarray; plain values are pushed as they are
    from IPython.kernel import newserialized

    a = numpy.arange(12.0).reshape(3, 4)
    mec.push_serialized(dict(a=newserialized.serialize(a), b=5), targets=[0, 1])
    assert mec.pull('b', targets=[0, 1]) == [5, 5]
    for s in mec.pull_serialized(('a',), targets=[0, 1]):
        assert_array_equal(newserialized.IUnSerialized(s).getObject(), a)
    with pytest.raises(TypeError, match="push_serialized takes a dict"):
        mec.push_serialized([newserialized.serialize(a)])


def test_parallel_gives_a_parallel_function(mec, tc):
    # test_multienginefc.py and test_taskfc.py, test_parallel*: isinstance(p, ParallelFunction)
    from IPython.kernel.parallelfunction import ParallelFunction

    for p in (mec.parallel(), mec.parallel(block=False), tc.parallel(), tc.parallel(block=False)):
        assert isinstance(p, ParallelFunction)
    pf = mec.parallel()
    assert pf(lambda x: 2*x)(range(6)) == [0, 2, 4, 6, 8, 10]
    assert pf.func(1) == 2  # 0.10 kept the last function decorated
    assert tc.parallel()(lambda x: x + 1)(range(3)) == [1, 2, 3]
    with pytest.raises(TypeError, match="decorates a function"):
        mec.parallel()(3)
