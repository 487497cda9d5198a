"""0.10 names that scripts use beside the everyday ones, against a real controller and four engines:
the Deferred-returning clients, the client factories, and the legacy return shapes and errors."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from IPython.kernel import asyncclient, client
from IPython.kernel.error import (
    AbortedPendingDeferredError,
    CompositeError,
    InvalidDeferredID,
    MissingBlockArgument,
    ResultNotCompleted,
)
from kernel.client.results import PendingResult
from tests.reactorcalls import ReactorCalls

SCRIPTS = Path(__file__).resolve().parents[1] / "legacy_scripts"


@pytest.fixture
def mec(cluster4):
    with client.get_multiengine_client(cluster4.mec_furl) as mec:
        mec.reset()
        yield mec


@pytest.fixture
def tc(cluster4):
    with client.get_task_client(cluster4.tc_furl) as tc:
        yield tc


@pytest.fixture
def reactor():
    return ReactorCalls()


def run_script(cluster, tmp_path, *argv):
    """Run a ported 0.10 example as a user would: its own process, finding the FURL files through IPYTHONDIR."""
    env = dict(os.environ, IPYTHONDIR=str(cluster.dir))
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, str(SCRIPTS / argv[0]), *argv[1:]], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{argv[0]} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout.splitlines()


def test_the_asynchronous_multiengine_example(cluster4, tmp_path):
    assert run_script(cluster4, tmp_path, "asyncmultiengine1.py") == ["[[5, 'asdf', [1, 2, 3]]]"]


def test_the_task_profiler_example(cluster4, tmp_path):
    lines = run_script(cluster4, tmp_path, "task_profiler.py", "-n", "8", "-t", "0.01", "-T", "0.02")
    patterns = [r"<AsyncTaskClient: its methods return Deferreds>",
                r"executing 8 tasks, totalling 0\.\d secs on 4 engines",
                r"executed 0\.\d secs in \d+\.\d secs",
                r"\d+\.\d{3}x parallel performance on 4 engines",
                r"\d+\.\d% of theoretical max"]
    assert len(lines) == len(patterns), lines
    for line, pattern in zip(lines, patterns):
        assert re.fullmatch(pattern, line), (pattern, line)


def test_the_client_factories_connect(mec, tc):
    assert isinstance(mec, client.MultiEngineClient) and mec.get_ids() == [0, 1, 2, 3]
    assert isinstance(tc, client.TaskClient)
    assert tc.run(client.StringTask("a = 6 * 7", pull="a"), block=True).ns.a == 42


def test_zip_pull_without_blocking_gives_a_pending_result(mec):
    mec.push(dict(a=1, b="x"))
    pending = mec.zip_pull(("a", "b"), block=False)
    assert isinstance(pending, PendingResult)
    assert pending.r == mec.zip_pull(("a", "b")) == [(1,) * 4, ("x",) * 4]
    assert mec.zip_pull(("a", "b"), targets=0, block=False).r == [1, "x"]
    assert mec.zip_pull("a", block=False).r == mec.zip_pull(["a"]) == [1] * 4


def test_no_block_to_go_by_is_a_missing_block_argument(mec):
    mec.block = None
    with pytest.raises(MissingBlockArgument, match="'block' keyword argument is missing"):
        mec.execute("a = 1")
    assert mec.execute("a = 1", block=True)[0]["id"] == 0


def test_clearing_an_unknown_task_id_is_a_key_error_after_the_rest_are_cleared(tc):
    done = tc.run(client.StringTask("a = 1"))
    tc.barrier(done)
    unknown = done + 1000
    with pytest.raises(KeyError, match=f"Cleared 1 results, but no tasks found for ids: {unknown}"):
        tc.clear([done, unknown])
    with pytest.raises(IndexError):
        tc.get_task_result(done)  # cleared all the same
    with pytest.raises(IndexError):  # and still the IndexError it was before
        tc.clear(unknown)


def test_spin_says_whether_it_started_a_task(tc):
    tc.barrier(tc.run(client.StringTask("a = 1")))
    assert tc.spin() is False  # the scheduler already ran on every event: nothing left to start


def test_verbose_queue_status_lists_the_task_ids(tc):
    ok, failed = tc.run(client.StringTask("a = 1")), tc.run(client.StringTask("1/0"))
    tc.barrier([ok, failed])
    verbose, counts = tc.queue_status(verbose=True), tc.queue_status()
    for state in ("scheduled", "pending", "succeeded", "failed"):
        assert all(isinstance(taskid, int) for taskid in verbose[state])
        assert counts[state] == len(verbose[state])
    assert ok in verbose["succeeded"] and failed in verbose["failed"]


def test_task_controller_of_the_client_and_of_its_mapper(tc):
    assert isinstance(tc.task_controller, asyncclient.AsyncTaskClient)
    assert tc.task_controller is tc.task_controller
    mapper = tc.mapper(retries=1)
    assert mapper.task_controller is tc
    assert mapper.map(abs, [-1, -2]) == [1, 2]


def test_the_asynchronous_multiengine_client(cluster4, reactor):
    mec = reactor.wait(asyncclient.get_multiengine_client(cluster4.mec_furl, reactor))
    assert mec.adapt_to_blocking_client().get_ids() == [0, 1, 2, 3]
    assert reactor.wait(mec.push(dict(a=5), targets=0)) == [None]
    assert reactor.wait(mec.pull("a", targets=0)) == [5]
    deferred_id = reactor.wait(mec.execute("b = 2", block=False))
    assert isinstance(deferred_id, int)
    assert [r["id"] for r in reactor.wait(mec.get_pending_deferred(deferred_id, True))] == [0, 1, 2, 3]
    with pytest.raises(InvalidDeferredID):  # fetched: the id is spent
        reactor.wait(mec.get_pending_deferred(deferred_id, True))
    assert reactor.wait(mec.map(lambda x: 2 * x, range(4))) == [0, 2, 4, 6]
    with pytest.raises(CompositeError):
        reactor.wait(mec.execute("1/0"))
    reactor.wait(mec.close())
    mec._thread.thread.join(30)
    assert not mec._thread.thread.is_alive()


def test_pending_deferreds_not_ready_and_aborted(cluster4, reactor, tmp_path):
    release = tmp_path / "release"
    mec = reactor.wait(asyncclient.get_multiengine_client(cluster4.mec_furl, reactor))
    held = reactor.wait(mec.execute(
        f"import os, time\nwhile not os.path.exists({str(release)!r}): time.sleep(0.002)",
        targets=0, block=False))
    with pytest.raises(ResultNotCompleted):
        reactor.wait(mec.get_pending_deferred(held, False))
    waiting = mec.get_pending_deferred(held, True)
    with pytest.raises(InvalidDeferredID):  # one waiter at a time
        reactor.wait(mec.get_pending_deferred(held, True))
    cleared = mec.clear_pending_deferreds()
    with pytest.raises(AbortedPendingDeferredError):
        reactor.wait(waiting)
    release.touch()
    assert reactor.wait(cleared) is None
    with pytest.raises(InvalidDeferredID):
        reactor.wait(mec.get_pending_deferred(held, True))
    reactor.wait(mec.close())


def test_the_asynchronous_task_client(cluster4, reactor):
    tc = reactor.wait(asyncclient.get_task_client(cluster4.tc_furl, reactor))
    taskid = reactor.wait(tc.run(client.StringTask("a = 6 * 7", pull="a")))
    assert reactor.wait(tc.get_task_result(taskid, block=True)).ns.a == 42
    assert reactor.wait(tc.map(lambda x: 2 * x, [1, 2])) == [2, 4]
    with pytest.raises(CompositeError) as raised:  # every failure, as 0.10's TaskMapper gathered them
        reactor.wait(tc.mapper().map(lambda x: 1 / x, [1, 0, 0]))
    assert [etype for etype, _, _ in raised.value.elist] == [ZeroDivisionError, ZeroDivisionError]
    taskids = reactor.wait(tc.mapper(block=False).map(abs, [-1, -2]))
    reactor.wait(tc.barrier(taskids))
    assert [reactor.wait(tc.get_task_result(t)) for t in taskids] == [1, 2]
    assert reactor.wait(tc.spin()) is False
    with pytest.raises(KeyError):
        reactor.wait(tc.clear([10 ** 6]))
    reactor.wait(tc.close())


def test_get_client_picks_the_interface_the_furl_is_for(cluster4, reactor):
    mec = reactor.wait(asyncclient.get_client(cluster4.mec_furl, reactor))
    tc = reactor.wait(asyncclient.get_client(cluster4.tc_furl, reactor))
    assert isinstance(mec, asyncclient.AsyncMultiEngineClient)
    assert isinstance(tc, asyncclient.AsyncTaskClient)
    for made in (mec, tc):
        reactor.wait(made.close())
