"""Futures across a controller killed with SIGKILL and restarted, against real processes
(``cluster``: a controller and two engines, from tests/conftest.py)."""

import signal

from kernel import client
from kernel.errors import ConnectionLost
from tests.harness import wait_for


def wait_for_file(path):
    import os
    import time

    while not os.path.exists(path):
        time.sleep(0.005)
    return "released"


def test_a_task_future_outlives_a_controller_restart(cluster):
    tc = client.TaskClient(cluster.tc_furl)
    release = cluster.dir / "release"
    future = tc.submit(wait_for_file, str(release))
    finished = tc.submit(abs, -3)
    assert finished.result(30) == 3
    wait_for(lambda: tc.queue_status()["pending"] >= 1, what="the held task to start")
    cluster.kill_controller(signal.SIGKILL)
    cluster.start_controller()
    release.touch()
    assert future.result(60) == "released"  # asked again, with no call made meanwhile
    assert tc.future(finished.taskid).result(30) == 3  # before the restart: read from the store
    tc.close()


def test_a_multiengine_future_fails_with_the_connection(cluster):
    mec = client.MultiEngineClient(cluster.mec_furl)
    release = cluster.dir / "release"
    pending = mec.execute(f"import os, time\nwhile not os.path.exists({str(release)!r}): time.sleep(0.005)",
                          targets=0, block=False)
    assert not pending.done()
    cluster.kill_controller(signal.SIGKILL)
    assert isinstance(pending.exception(30), ConnectionLost)
    cluster.start_controller()
    release.touch()  # engine 0 comes back once its command ends (docs/architecture.md)
    wait_for(lambda: mec.get_ids() == [0, 1] if _answers(mec) else False, 60, what="the engines to come back")
    assert mec.pull("id", block=False).result(30) == [0, 1]


def test_closing_the_client_fails_its_pending_futures(cluster):
    tc = client.TaskClient(cluster.tc_furl)
    release = cluster.dir / "release"
    future = tc.submit(wait_for_file, str(release))
    tc.close()
    assert isinstance(future.exception(30), ConnectionLost)
    release.touch()
    again = client.TaskClient(cluster.tc_furl)
    assert again.future(future.taskid).result(30) == "released"
    again.close()


def _answers(mec):
    try:
        mec.get_ids()
        return True
    except (ConnectionLost, OSError):
        return False
