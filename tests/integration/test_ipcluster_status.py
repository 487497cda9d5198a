"""ipcluster status: engines, queues and scheme of the cluster in a directory."""

import io
import os
import subprocess
import sys

from kernel.apps import ipcluster
from kernel.client.task import StringTask
from kernel.client.taskclient import TaskClient
from tests.harness import wait_for


def status(directory, *extra):
    out, err = io.StringIO(), io.StringIO()
    code = ipcluster.main(["status", "--ipythondir", str(directory), *extra], out, err)
    return code, out.getvalue(), err.getvalue()


def test_status_lists_engines_queues_and_scheme(cluster):
    tc = TaskClient(cluster.tc_furl)
    try:
        tc.barrier([tc.run(StringTask("x = 1")) for _ in range(3)])
    finally:
        tc.close()
    code, out, err = status(cluster.dir)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"ipcluster: cluster in {cluster.dir}")
    assert "scheme: leastload" in lines
    assert not [line for line in lines if line.startswith("relays:")]  # said only where there are some
    assert "engines: 2" in lines
    header = lines.index(next(line for line in lines if line.startswith("engine ")))
    assert lines[header].split() == ["engine", "host", "pid", "running", "queued"]
    rows = [line.split() for line in lines[header + 1:header + 3]]
    pids = {str(p.pid) for p in cluster.engines}
    assert [r[0] for r in rows] == ["0", "1"]
    assert {r[2] for r in rows} == pids
    assert all(r[3] == "None" and r[4] == "0" for r in rows)
    assert "tasks: scheduled 0, pending 0, succeeded 3, failed 0" in lines


def test_status_shows_the_scheme_the_relays_and_a_busy_engine(cluster_factory):
    c = cluster_factory("lru", controller_args=["--scheme", "lru", "--relays", "2"])
    c.start_controller()
    c.start_engines(1)
    mec = c.client()
    try:
        mec.push({"stop": False}, targets=0)
        pending = mec.execute("import time\nwhile not stop: time.sleep(0.01)", targets=0, block=False)
        queued = mec.execute("y = 2", targets=0, block=False)
        wait_for(lambda: len(mec.queue_status(targets=0)[0][1]["queue"]) == 1, what="a queued command")
        code, out, err = status(c.dir)
        assert code == 0, err
        assert "scheme: lru" in out.splitlines()
        assert "relays: 2 (processes holding the engines' connections)" in out.splitlines()
        row = next(line for line in out.splitlines() if line.startswith("0 "))
        assert "execute" in row and row.split()[-1] == "1"
        mec.interrupt(targets=0)
        for pr in (pending, queued):
            try:
                pr.get_result()
            except Exception:
                pass
    finally:
        mec.close()


def test_status_without_a_cluster(tmp_path, cluster_factory):
    code, out, err = status(tmp_path / "empty")
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "no cluster is running in" in err
    # FURL files left behind by a controller that is gone
    c = cluster_factory("gone")
    c.start_controller()
    c.kill_controller()
    code, out, err = status(c.dir, "--timeout", "2")
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "no cluster is running in" in err


def test_status_command_line(cluster):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    done = subprocess.run([sys.executable, "-m", "kernel.apps.ipcluster", "status", "--ipythondir",
                           str(cluster.dir)], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert "engines: 2" in done.stdout
    done = subprocess.run([sys.executable, "-m", "kernel.apps.ipcluster", "status", "--ipythondir",
                           str(cluster.dir / "nothing")], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 1 and "no cluster is running" in done.stderr
