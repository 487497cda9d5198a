"""``--memory-limit``: user code that grows an engine past it is stopped with a clear error.

The engines here have a 200 MB limit, and the code grows them towards four
times that, then waits to be interrupted: the host is never asked for more
than about 800 MB, even if the watch failed.
"""

import os

import pytest

from kernel import client
from kernel.client.remote import CompositeError
from kernel.cluster import Cluster
from kernel.errors import EngineDied, KernelError, MemoryLimitError
from tests.harness import wait_for
from tests.launchers.helpers import kill_processes_using

LIMIT = "200MB"
CHUNKS = 80  # of 10 MiB: four times the limit
GROW_IN_A_FUNCTION = f"""
def grow():
    chunks = [bytearray(10 << 20) for _ in range({CHUNKS})]
    time.sleep(60)
import time
grow()
"""
GROW_IN_THE_NAMESPACE = f"""
import time
kept = []
for _ in range({CHUNKS}):
    kept.append(bytearray(10 << 20))
time.sleep(60)
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    d = tmp_path_factory.mktemp("memory")
    c = Cluster(n=1, ipythondir=d / "d", memory_limit=LIMIT, restart_window=600)
    c.start()
    yield c
    c.stop()
    kill_processes_using(d)


@pytest.fixture
def mec(cluster):
    """A client, once the cluster's one engine is registered and answers."""
    mec = cluster.mec()

    def ready():
        try:
            return mec.execute("pass") is not None and len(mec.get_ids()) == 1
        except (CompositeError, KernelError):
            return False

    wait_for(ready, what="the engine to answer")
    return mec


def engine_pid(mec):
    mec.execute("import os; pid = os.getpid()")
    return mec.pull("pid")[0]


def engine_error(call):
    """The one engine's exception from ``call()``."""
    with pytest.raises(CompositeError) as caught:
        call()
    (_, exc, _), = caught.value.elist
    return exc


def test_code_that_grows_past_the_limit_is_stopped_and_the_engine_stays(cluster, mec):
    pid = engine_pid(mec)
    exc = engine_error(lambda: mec.execute(GROW_IN_A_FUNCTION))
    assert isinstance(exc, MemoryLimitError) and isinstance(exc, MemoryError)
    engine = mec.get_ids()[0]
    assert str(exc).startswith(f"engine {engine} grew to ")
    assert str(exc).endswith(", past its memory limit of 200 MB: the command was stopped")
    assert "in grow" in exc.traceback_text  # where it was stopped
    assert engine_pid(mec) == pid  # the same engine, still usable
    mec.execute("y = 6 * 7")
    assert mec.pull("y") == [42]


def test_an_engine_holding_the_memory_restarts_with_a_fresh_namespace(cluster, mec):
    pid = engine_pid(mec)
    exc = engine_error(lambda: mec.execute(GROW_IN_THE_NAMESPACE))
    assert isinstance(exc, MemoryLimitError)
    assert ", past its memory limit of 200 MB, and is still at " in str(exc)
    assert str(exc).endswith("after the command: it restarts, and its namespace is lost")
    wait_for(lambda: cluster.engines.pids[0] != pid, what="the engine to be restarted")
    assert cluster.supervisor.history[-1]["reason"] == "exited with code 3 (it stayed past its memory limit)"
    new = cluster.engines.pids[0]
    wait_for(lambda: _answers(mec) == new, what="the restarted engine")
    assert isinstance(engine_error(lambda: mec.pull("kept")), NameError)


def test_one_allocation_past_the_limit_is_an_error_too(cluster, mec):
    """One C call holds the GIL: the thread may not look before the command ends; the engine looks then.

    If the interrupt lands before ``x`` is bound, the memory goes and the
    engine stays; after, the engine holds it, and restarts.
    """
    pid = engine_pid(mec)
    exc = engine_error(lambda: mec.execute("x = bytearray(800 * 10**6)"))
    assert isinstance(exc, MemoryLimitError)
    assert ", past its memory limit of 200 MB" in str(exc)
    if str(exc).endswith("it restarts, and its namespace is lost"):
        wait_for(lambda: cluster.engines.pids[0] != pid, what="the engine to be restarted")
        wait_for(lambda: _answers(mec) == cluster.engines.pids[0], what="the restarted engine")
    else:
        assert str(exc).endswith("the command was stopped") and engine_pid(mec) == pid
    assert isinstance(engine_error(lambda: mec.pull("x")), NameError)


def _answers(mec):
    try:
        return engine_pid(mec)
    except (CompositeError, KernelError):
        return None


def test_code_that_ignores_the_interrupt_ends_its_engine(cluster, mec):
    pid = engine_pid(mec)
    stubborn = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n" + GROW_IN_THE_NAMESPACE
    exc = engine_error(lambda: mec.execute(stubborn))
    assert isinstance(exc, EngineDied)
    wait_for(lambda: cluster.engines.pids[0] != pid, what="the engine to be restarted")
    assert any(e["pid"] == pid and e["returncode"] == 3 for e in cluster.supervisor.history)


def test_a_task_uses_its_retries_then_fails_naming_the_limit(cluster, mec, tmp_path):
    attempts = tmp_path / "attempts"
    tc = cluster.tc()
    task = client.StringTask(f"open({str(attempts)!r}, 'a').write('.')\n{GROW_IN_A_FUNCTION}", retries=1)
    result = tc.get_task_result(tc.run(task), block=True)
    assert isinstance(result.failure, MemoryLimitError)
    assert "past its memory limit of 200 MB" in str(result.failure)
    assert attempts.read_text() == ".."


def test_the_kernel_kills_a_limited_engine_first_if_memory_runs_out(cluster, mec):
    with open(f"/proc/{engine_pid(mec)}/oom_score_adj") as f:
        assert int(f.read()) >= 500
    assert cluster.controller.alive()
    with open(f"/proc/{cluster.controller.pid}/oom_score_adj") as f:
        assert int(f.read()) < 500


def test_a_bad_limit_is_refused_before_anything_starts(tmp_path):
    with pytest.raises(ValueError, match=r"engine.memory_limit = 'lots' is not allowed: expected 0 \(off\) or a size"):
        Cluster(memory_limit="lots", ipythondir=tmp_path / "d")
    assert not os.path.exists(tmp_path / "d")
