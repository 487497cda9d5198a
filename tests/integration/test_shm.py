"""Big arrays through shared memory between this client and real engine processes.

Which way a value went is seen in /dev/shm: a segment travels as a file named
after the pid of the process that made it, so a push through shared memory
leaves a segment of the array's size named after this process (kept for
reuse), and a pull one named after the engine. Sizes differ from test to test
so that one test's segments are never taken for another's.
"""

import os
import signal
import subprocess
import sys
import textwrap

import numpy
import pytest

from kernel import client
from kernel.client import maps
from kernel.wire import shm

pytestmark = pytest.mark.skipif(shm.host_key() is None, reason="no writable tmpfs /dev/shm here")

MB = 1 << 20


def segments(pid):
    """``{name: (size, links)}`` of the files in /dev/shm made by process ``pid``."""
    found = {}
    for name in os.listdir(shm.SHM_DIR):
        if name.startswith(f"kernel-{pid}-"):
            try:
                info = os.stat(os.path.join(shm.SHM_DIR, name))
            except FileNotFoundError:
                continue
            found[name] = (info.st_size, info.st_nlink)
    return found


def sizes(pid):
    return {size for size, _ in segments(pid).values()}


def tickets_out(pids):
    """Segments some consumer has not taken yet: a taken ticket leaves its segment one link."""
    return {name: links for pid in pids for name, (_, links) in segments(pid).items() if links > 1}


def array(megabytes, extra=0):
    return numpy.random.default_rng(megabytes).random(megabytes * MB // 8 + extra)


@pytest.fixture
def engine_pids(mec):
    mec.execute("import os; pid = os.getpid()")
    return dict(zip(mec.get_ids(), mec.pull("pid")))


def blocks(a, n):
    """The byte sizes of the blocks ``scatter`` makes of ``a`` for ``n`` engines."""
    split, _ = maps.distribution("b")
    return [split(a, p, n).nbytes for p in range(n)]


@pytest.mark.parametrize("megabytes", [16, 128])
def test_push_and_pull_go_through_shared_memory(mec, engine_pids, megabytes):
    a = array(megabytes, extra=1)
    assert mec.push({"a": a}, targets=0) == [None]
    assert a.nbytes in sizes(os.getpid())
    mec.execute("ok = (a.flags.writeable, float(a.sum()))\na[0] = -1.0", targets=0)
    assert mec.pull("ok", targets=0) == [(True, float(a.sum()))]
    back = mec.pull("a", targets=0)[0]
    assert a.nbytes in sizes(engine_pids[0])
    assert back.flags.writeable and back.dtype == a.dtype and back.shape == a.shape
    assert back[0] == -1.0 and numpy.array_equal(back[1:], a[1:])
    assert tickets_out([os.getpid(), *engine_pids.values()]) == {}


def test_a_change_on_one_engine_reaches_no_other_copy(mec):
    a = array(16, extra=2)
    mec.push({"a": a}, targets=[0, 1])
    mec.execute("a[:] = -1.0", targets=0)
    zero, one = mec.pull("a", targets=[0, 1])
    assert (zero == -1.0).all()
    assert numpy.array_equal(one, a) and a[0] != -1.0
    one[:] = 7.0  # and the client's copy is its own too
    assert (mec.pull("a", targets=1)[0] == a).all()


def test_scatter_and_gather_a_big_array(mec, engine_pids):
    a = array(64, extra=4)
    mec.scatter("part", a)
    assert set(blocks(a, 4)) <= sizes(os.getpid())
    mec.execute("n = len(part)")
    assert mec.pull("n") == [len(a) // 4] * 4
    assert numpy.array_equal(mec.gather("part"), a)
    assert tickets_out([os.getpid(), *engine_pids.values()]) == {}


def without_shared_memory(cluster, monkeypatch):
    yield client.MultiEngineClient(cluster.mec_furl, shared_memory=False)
    monkeypatch.setenv("KERNEL_CLIENT_SHARED_MEMORY", "0")
    yield client.MultiEngineClient(cluster.mec_furl)


def test_without_shared_memory_arrays_go_through_the_socket(cluster4, engine_pids, monkeypatch):
    a = array(16, extra=5)
    pids = [os.getpid(), *engine_pids.values()]
    for inline in without_shared_memory(cluster4, monkeypatch):
        try:
            inline.push({"a": a}, targets=[0, 1])
            assert numpy.array_equal(inline.pull("a", targets=1)[0], a)
            inline.scatter("part", a)
            assert numpy.array_equal(inline.gather("part"), a)
        finally:
            inline.close()
        used = {size for pid in pids for size in sizes(pid)}
        assert used.isdisjoint([a.nbytes, *blocks(a, 4)])


def test_an_engine_with_shared_memory_off_gets_and_sends_everything_inline(cluster_factory):
    cluster = cluster_factory()
    cluster.start_controller()
    cluster.start_engines(1)
    cluster.start_engines(1, "--no-shared-memory")
    mec = cluster.client()
    try:
        mec.execute("import os; pid = os.getpid()")
        on, off = mec.pull("pid")
        a = array(16, extra=6)
        mec.push({"a": a})  # one engine elsewhere: the whole push goes inline
        assert a.nbytes not in sizes(os.getpid())
        assert numpy.array_equal(mec.pull("a", targets=1)[0], a) and a.nbytes not in sizes(off)
        assert numpy.array_equal(mec.pull("a", targets=0)[0], a) and a.nbytes in sizes(on)
        b = array(32, extra=7)
        mec.scatter("part", b)  # block by block: only engine 0's goes through shared memory
        first, second = blocks(b, 2)
        assert first != second and first in sizes(os.getpid()) and second not in sizes(os.getpid())
        assert numpy.array_equal(mec.gather("part"), b)
    finally:
        mec.close()


CLIENT = """
import sys
import numpy
from kernel.client import MultiEngineClient

mec = MultiEngineClient(sys.argv[1])
mec.push({"a": numpy.ones(%d)}, targets=0)
mec.pull("a", targets=0)
pending = mec.push({"b": numpy.zeros(%d)}, targets=1, block=False)  # never waited for
mec.pull("b", targets=1)  # engine 1 took its ticket first: an engine's commands run in order
print("pushed", flush=True)
sys.stdin.readline()
"""


def run_client(cluster, *lengths):
    """A client process that pushed and pulled arrays of these lengths, waiting for a line on stdin."""
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CLIENT % lengths), cluster.mec_furl],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "pushed\n"
    return process


def test_processes_leave_no_segment_when_they_exit(cluster_factory):
    cluster = cluster_factory()
    cluster.start_controller()
    cluster.start_engines(2)
    mec = cluster.client()
    mec.execute("import os; pid = os.getpid()")
    engines = mec.pull("pid")
    process = run_client(cluster, MB + 1, MB + 2)
    assert segments(process.pid) and all(segments(pid) for pid in engines)
    assert tickets_out([process.pid, *engines]) == {}
    process.communicate("\n")
    assert segments(process.pid) == {}
    mec.kill(block=True)
    mec.close()
    for engine in cluster.engines:
        engine.wait(30)
    assert [segments(pid) for pid in engines] == [{}, {}]


def test_segments_of_a_killed_client_are_swept_by_the_next_one(cluster_factory):
    cluster = cluster_factory()
    cluster.start_controller()
    cluster.start_engines(2)
    process = run_client(cluster, MB + 3, MB + 4)
    assert segments(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    cluster.client().close()
    assert segments(process.pid) == {}


def test_a_push_not_waited_for_is_delivered_when_the_script_ends_at_once(cluster_factory):
    cluster = cluster_factory()
    cluster.start_controller()
    cluster.start_engines(1)
    script = textwrap.dedent(f"""
        import sys, numpy
        from kernel.client import MultiEngineClient
        MultiEngineClient(sys.argv[1]).push({{"late": numpy.arange({2 * MB + 5})}}, targets=0, block=False)
    """)
    subprocess.run([sys.executable, "-c", script, cluster.mec_furl], check=True, timeout=60)
    mec = cluster.client()
    try:
        assert numpy.array_equal(mec.pull("late", targets=0)[0], numpy.arange(2 * MB + 5))
    finally:
        mec.close()
