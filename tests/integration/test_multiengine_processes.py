"""Multiengine behaviour that needs real engine processes: SIGINT, death, big arrays, tasks."""

import os
import signal
import time

import numpy
import pytest

from kernel import client
from tests.harness import wait_for


def test_interrupt_stops_a_blocking_call(mec, tmp_path):
    marker = tmp_path / "started"
    pr = mec.execute(f"import time\nopen({str(marker)!r}, 'w').close()\ntime.sleep(100)",
                     targets=1, block=False)
    wait_for(marker.exists, what="the engine to start sleeping")
    started = time.monotonic()
    mec.interrupt(targets=1)
    with pytest.raises(client.CompositeError) as e:
        pr.r
    assert time.monotonic() - started < 30
    assert e.value.elist[0][0] is KeyboardInterrupt
    assert "[1:execute]: KeyboardInterrupt: interrupted by the controller" in str(e.value)
    assert mec.execute("x = 1", targets=1)[0]["number"] == 2  # the engine lives on


def test_interrupt_stops_a_loop_that_holds_the_gil(mec, tmp_path):
    marker = tmp_path / "looping"
    pr = mec.execute(f"open({str(marker)!r}, 'w').close()\nwhile True: pass", targets=2, block=False)
    wait_for(marker.exists, what="the engine to start looping")
    mec.interrupt(targets=2)
    with pytest.raises(client.CompositeError) as e:
        pr.r
    assert e.value.elist[0][0] is KeyboardInterrupt
    assert mec.execute("x = 1", targets=2)[0]["id"] == 2  # the engine lives on


def test_a_big_reply_keeps_flowing_while_the_next_command_computes(cluster4, tmp_path):
    mec = client.MultiEngineClient(cluster4.mec_furl, shared_memory=False)  # the reply crosses the sockets
    try:
        mec.execute("import numpy; big = numpy.arange(2**23, dtype=numpy.float64)", targets=3)  # 64 MB
        pulled = mec.pull("big", targets=3, block=False)
        release = tmp_path / "release"
        waiting = mec.execute(f"import os, time\nwhile not os.path.exists({str(release)!r}): time.sleep(0.01)",
                              targets=3, block=False)
        [big] = pulled.r  # arrives while the engine is still in the command behind it
        assert big.shape == (2**23,) and big[-1] == 2**23 - 1
        release.touch()
        assert waiting.r[0]["id"] == 3
    finally:
        mec.reset(targets=3)
        mec.close()


def test_an_engine_dying_mid_command_fails_only_its_entry(mec, cluster4):
    pids = mec.execute("import os; pid = os.getpid()")
    pid = mec.pull("pid", targets=3)[0]
    pr = mec.execute("import time; time.sleep(0.1 if id != 3 else 100)", block=False)
    wait_for(lambda: dict(mec.queue_status(targets=3))[3]["pending"] != "None", what="engine 3 to be busy")
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(client.CompositeError) as e:
        pr.r
    assert [type(ev).__name__ for _, ev, _ in e.value.elist] == ["EngineDied"]
    assert "[3:execute]: EngineDied: engine 3 died before finishing execute(" in str(e.value)
    assert mec.pull("id") == [0, 1, 2]
    cluster4.start_engines(1)
    wait_for(lambda: mec.get_ids() == [0, 1, 2, 3], what="a replacement engine")
    assert pids


def test_properties_are_seen_by_the_task_scheduler_at_once(cluster4, mec):
    tc = client.TaskClient(cluster4.tc_furl)
    try:
        mec.set_properties(dict(role="special"), targets=2)
        task = client.StringTask("where = id", pull="where",
                                 depend=lambda properties: properties.get("role") == "special")
        taskid = tc.run(task)
        assert tc.get_task_result(taskid, block=True).ns.where == 2
    finally:
        mec.clear_properties()
        tc.close()


@pytest.mark.slow
def test_a_one_gigabyte_array_moves_both_ways(mec):
    a = numpy.arange(2**27, dtype=numpy.float64)  # 1 GiB
    assert mec.push(dict(a=a), targets=0) == [None]
    mec.execute("ok = (a.flags.writeable, a.dtype.str, a.shape, float(a[-1]))\na[0] = -1.0", targets=0)
    assert mec.pull("ok", targets=0) == [(True, "<f8", (2**27,), float(2**27 - 1))]
    back = mec.pull("a", targets=0)[0]
    assert back.flags.writeable and back.dtype == a.dtype and back.shape == a.shape
    assert back[0] == -1.0
    back[0] = 0.0
    assert numpy.array_equal(back, a)
    mec.reset(targets=0)
