"""Local engines forked by one fork server: what a launcher relies on, and the engines it makes."""

import json
import os
import signal
import subprocess
import sys

import pytest

from kernel.cluster import Cluster
from kernel.proctable import pid_alive
from tests.harness import wait_for
from tests.launchers.helpers import kill_processes_using, parent_of

# a server whose "engine" prints its options, then exits with the code its last option gives, or hangs
SERVER = ("import sys, time; from kernel.apps import forkserver\n"
          "def engine(argv):\n"
          "    print('engine', ' '.join(argv), flush=True)\n"
          "    if argv[-1] == 'hang':\n"
          "        time.sleep(60)\n"
          "    return int(argv[-1])\n"
          "sys.exit(forkserver.serve(sys.argv[1:], engine))")


class Server:
    def __init__(self, *argv):
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER, *argv], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)

    def ask(self, **request):
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()

    def event(self):
        return json.loads(self.proc.stdout.readline())


@pytest.fixture
def server():
    made = []

    def make(*argv):
        made.append(Server(*argv))
        return made[-1]

    yield make
    for s in made:
        if s.proc.poll() is None:
            s.proc.kill()
        s.proc.wait(10)


def test_the_server_forks_an_engine_per_request_and_reports_each_exit(server, tmp_path):
    s = server("--some-option", "7")
    outputs = [tmp_path / "a.out", tmp_path / "b.out"]
    for slot, output in enumerate(outputs):
        s.ask(spawn=slot, output=str(output), die_with_parent=False)
    spawned = [s.event(), s.event()]
    assert sorted(e["spawned"] for e in spawned) == [0, 1]
    pids = {e["pid"] for e in spawned}
    exits = [s.event(), s.event()]
    assert {e["exited"] for e in exits} == pids and {e["code"] for e in exits} == {7}
    assert [o.read_text() for o in outputs] == ["engine --some-option 7\n"] * 2
    s.proc.stdin.close()  # the launcher has gone: the server ends
    assert s.proc.wait(10) == 0


def test_an_engine_killed_is_reported_with_its_signal_and_runs_in_a_session_of_its_own(server, tmp_path):
    s = server("hang")
    s.ask(spawn=0, output=str(tmp_path / "out"), die_with_parent=False)
    pid = s.event()["pid"]
    wait_for(lambda: os.getsid(pid) == pid, what="the engine to be in a session of its own")
    assert parent_of(pid) == s.proc.pid
    os.kill(pid, signal.SIGKILL)
    assert s.event() == {"exited": pid, "code": -signal.SIGKILL}


def engine_pids(c):
    """The registered engines' pids; the same targets for both calls, as an engine may register between them."""
    mec = c.mec()
    ids = mec.get_ids()
    mec.execute("import os; pid = os.getpid()", targets=ids)
    return sorted(mec.pull("pid", targets=ids))


@pytest.fixture
def cleanup(tmp_path):
    yield
    kill_processes_using(tmp_path)


def test_cluster_engines_are_forked_by_one_server_and_each_is_its_own_engine(tmp_path, cleanup):
    with Cluster(n=3, ipythondir=tmp_path / "d") as c:
        pids = engine_pids(c)
        assert pids == sorted(c.engines.pids) and len(set(pids)) == 3
        assert {parent_of(pid) for pid in pids} == {c.engines.server.proc.pid}
        assert all((tmp_path / "d" / "log" / f"ipengine-{pid}.log").exists() for pid in pids)
        c.mec().execute("import random; r = random.random()")
        assert len(set(c.mec().pull("r"))) == 3  # not one random sequence shared by the siblings


def test_without_fork_engines_or_with_a_command_of_ones_own_each_engine_is_a_program(tmp_path, cleanup):
    for options in ({"fork_engines": False}, {"engine_cmd": [sys.executable, "-m", "kernel.apps.ipengine"]}):
        with Cluster(n=2, ipythondir=tmp_path / "d", **options) as c:
            assert c.engines.server is None
            assert {parent_of(pid) for pid in engine_pids(c)} == {os.getpid()}


def test_engines_outlive_a_lost_server_and_come_back_as_programs(tmp_path, cleanup):
    with Cluster(n=2, ipythondir=tmp_path / "d") as c:
        first, second = c.engines.pids
        c.engines.server.proc.kill()
        wait_for(lambda: c.engines.server.lost, what="the launcher to notice its fork server is gone")
        assert engine_pids(c) == sorted([first, second])  # the engines run on
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: first not in c.engines.pids, what="the engine to be restarted")
        replacement = c.engines.pids[0]
        assert parent_of(replacement) == os.getpid()  # a program of its own now
        wait_for(lambda: engine_pids(c) == sorted([replacement, second]), what="the new engine")
    assert not pid_alive(second)
