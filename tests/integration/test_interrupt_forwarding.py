"""Ctrl-C in a client blocked in a call reaches the engines: real processes, a real SIGINT.

A client script (a subprocess) blocks in ``mec.execute`` or ``tc.map`` on code
that never ends; the test sends it SIGINT once the engines are looping. The
client raises KeyboardInterrupt, and the engines are free for the next call
with their namespaces as they were; the map's tasks not started never run.
With ``client.forward_interrupts`` off, the engines go on looping.
"""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from kernel import client
from kernel.errors import TaskAborted
from tests.harness import wait_for

pytestmark = pytest.mark.timeout(180)

PREAMBLE = """\
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # whatever this process inherited
from kernel import client
"""


@pytest.fixture
def mec(cluster):
    mec = client.MultiEngineClient(cluster.mec_furl)
    mec.reset()
    mec.push({"kept": 42})
    yield mec
    mec.close()


def run_script(tmp_path, body, *, env=None):
    script = tmp_path / "script.py"
    script.write_text(PREAMBLE + textwrap.dedent(body))
    return subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})


def interrupt(process):
    """SIGINT, as Ctrl-C sends; the script must end with KeyboardInterrupt."""
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 3, out
    assert "KeyboardInterrupt raised" in out
    return out


def markers(directory, prefix):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(prefix))


def test_ctrl_c_in_a_blocking_execute_interrupts_the_engines(cluster, mec, tmp_path):
    process = run_script(tmp_path, f"""
        mec = client.MultiEngineClient({cluster.mec_furl!r})
        try:
            mec.execute("open({str(tmp_path)!r} + f'/looping-{{id}}', 'w').close()\\nwhile True: pass")
        except KeyboardInterrupt:
            print("KeyboardInterrupt raised")
            sys.exit(3)
    """)
    wait_for(lambda: len(markers(tmp_path, "looping-")) == 2, what="both engines to loop")
    interrupt(process)
    answered = mec.execute("after = kept + 1", block=False)  # waits behind nothing: the loops are gone
    assert [r["id"] for r in answered.result(timeout=60)] == [0, 1]
    assert mec.pull("after") == [43, 43]


WAITS = {"map": "tc.map(spin, range(20))",
         "barrier": "tc.barrier([tc.run(client.MapTask(spin, (i,))) for i in range(20)])"}


@pytest.mark.parametrize("wait", sorted(WAITS))
def test_ctrl_c_in_a_wait_for_tasks_aborts_them_and_frees_the_engines(cluster, mec, tmp_path, wait):
    process = run_script(tmp_path, f"""
        tc = client.TaskClient({cluster.tc_furl!r})

        def spin(i):
            open({str(tmp_path)!r} + f"/task-{{i}}", "w").close()
            while True:
                pass

        try:
            {WAITS[wait]}
        except KeyboardInterrupt:
            print("KeyboardInterrupt raised")
            sys.exit(3)
    """)
    wait_for(lambda: len(markers(tmp_path, "task-")) == 2, what="a task to loop on each engine")
    interrupt(process)
    answered = mec.execute("after = kept + 1", block=False)
    assert len(answered.result(timeout=60)) == 2
    assert mec.pull("after") == [43, 43]
    tc = client.TaskClient(cluster.tc_furl)
    try:
        status = tc.queue_status(verbose=True)
        assert status["scheduled"] == [] and status["pending"] == []
        assert len(status["failed"]) == 20
        for taskid in status["failed"][:3]:
            with pytest.raises(TaskAborted):
                tc.get_task_result(taskid)
        tc.clear()
    finally:
        tc.close()
    assert len(markers(tmp_path, "task-")) == 2  # the 18 not started never ran


def test_with_forwarding_off_the_engines_go_on(cluster, mec, tmp_path):
    process = run_script(tmp_path, f"""
        mec = client.MultiEngineClient({cluster.mec_furl!r})
        try:
            mec.execute("open({str(tmp_path)!r} + '/looping', 'w').close()\\nwhile True: pass", targets=1)
        except KeyboardInterrupt:
            print("KeyboardInterrupt raised")
            sys.exit(3)
    """, env={"KERNEL_CLIENT_FORWARD_INTERRUPTS": "0"})
    wait_for(lambda: (tmp_path / "looping").exists(), what="engine 1 to loop")
    interrupt(process)
    assert dict(mec.queue_status(targets=1))[1]["pending"].startswith("execute(")  # still looping
    mec.interrupt(targets=1)
    wait_for(lambda: dict(mec.queue_status(targets=1))[1]["pending"] == "None", timeout=60,
             what="engine 1 to stop looping")
    assert mec.pull("kept", targets=1) == [42]
