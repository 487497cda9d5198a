"""Never lose work: a controller killed with SIGKILL and restarted loses no task and no result."""

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kernel import client
from kernel.client import MapTask, StringTask
from kernel.errors import StaleLease
from tests.harness import until_answered, wait_for

SOAK = int(os.environ.get("KERNEL_SOAK_SCALE", "1"))  # `make soak` runs the soak tests ten times larger


def square(x):
    return x * x


def test_restart_keeps_finished_results_and_reruns_unfinished_tasks(cluster_factory):
    c = cluster_factory().start(engines=1)
    tc = client.TaskClient(c.tc_furl)
    done = tc.run(StringTask("a = 6 * 7", pull="a"), block=False)
    tc.barrier(done)
    hold = c.dir / "hold"
    running = tc.run(StringTask(f"import os, time\nwhile not os.path.exists({str(hold)!r}): time.sleep(0.01)\n"
                                "b = 'ran'", pull="b"))
    queued = [tc.run(MapTask(square, (i,))) for i in range(5)]
    wait_for(lambda: tc.queue_status()["pending"] >= 1, what="the holding task to start")
    c.kill_controller(signal.SIGKILL)
    c.start_controller()
    hold.touch()
    assert until_answered(lambda: tc.get_task_result(done)).ns.a == 42  # reconnects on its own
    assert tc.get_task_result(running, block=True).ns.b == "ran"
    assert [tc.get_task_result(t, block=True) for t in queued] == [0, 1, 4, 9, 16]
    new = tc.run(MapTask(square, (9,)))
    assert new == queued[-1] + 1  # ids go on after the old ones
    assert tc.get_task_result(new, block=True) == 81
    assert tc.queue_status()["succeeded"] == 8


def test_tasks_run_sent_but_never_read_by_a_killed_controller_are_sent_again(cluster_factory):
    c = cluster_factory().start(engines=1)
    tc = client.TaskClient(c.tc_furl)
    first = tc.run(MapTask(square, (1,)))  # leases a block of ids
    tc.barrier(first)
    c.controller.send_signal(signal.SIGSTOP)  # it reads nothing more
    sent = [tc.run(MapTask(square, (i,))) for i in range(2, 12)]  # returned without answers
    c.kill_controller(signal.SIGKILL)
    c.start_controller()
    until_answered(lambda: tc.barrier(sent))  # reconnects, sends the ten again under their ids
    assert [tc.get_task_result(t) for t in sent] == [i * i for i in range(2, 12)]
    assert tc.queue_status()["succeeded"] == 11  # each ran once


def test_ids_leased_before_a_reset_db_are_refused_not_taken_for_another_clients(cluster_factory):
    c = cluster_factory().start(engines=1)
    old = client.TaskClient(c.tc_furl)
    old.barrier(old.run(MapTask(square, (1,))))  # leases a block of ids from the first store
    c.kill_controller(signal.SIGKILL)
    c.start_controller("--reset-db")  # a new, empty store: it leases the same ids afresh
    new = client.TaskClient(c.tc_furl)
    theirs = [new.run(MapTask(square, (i,))) for i in range(8)]
    new.barrier(theirs)
    mine = until_answered(lambda: old.run(MapTask(square, (5,))))  # an id of the old block
    assert mine in theirs  # the same number: the old store gave it out too
    with pytest.raises(StaleLease, match=f"task {mine} was refused by the controller: .*--reset-db"):
        old.queue_status()
    again = old.run(MapTask(square, (5,)))  # a fresh lease
    assert again not in theirs and old.get_task_result(again, block=True) == 25
    assert [new.get_task_result(t) for t in theirs] == [i * i for i in range(8)]  # untouched


def test_a_script_that_ends_right_after_run_still_has_its_tasks_stored(cluster_factory):
    c = cluster_factory().start(engines=1)
    script = ("import sys\nfrom kernel.client import TaskClient, StringTask\n"
              "tc = TaskClient(sys.argv[1])\n"
              "print([tc.run(StringTask(f'x = {i} * 3', pull='x')) for i in range(50)])\n")
    done = subprocess.run([sys.executable, "-c", script, c.tc_furl], capture_output=True, text=True,
                          timeout=60, check=True)
    ids = json.loads(done.stdout)
    tc = client.TaskClient(c.tc_furl)
    assert [tc.get_task_result(t, block=True).ns.x for t in ids] == [i * 3 for i in range(50)]


def test_a_missing_store_stops_the_controller_with_its_path(cluster_factory):
    c = cluster_factory()
    c.start_controller()
    c.kill_controller(signal.SIGKILL)
    for suffix in ("", "-wal", "-shm"):
        (c.dir / "db" / f"tasks.sqlite{suffix}").unlink(missing_ok=True)
    with pytest.raises(RuntimeError, match=r"tasks.sqlite is missing.*--reset-db"):
        c.start_controller()
    c.start_controller("--reset-db")


def _run_through_restarts(c, n, restarts, seed):
    """Submit ``n`` tasks, SIGKILL and restart the controller ``restarts`` times, collect all."""
    rng = random.Random(seed)
    tc = client.TaskClient(c.tc_furl)
    ids = tc.mapper(block=False, retries=3).map(square, range(n))
    for _ in range(restarts):
        target = rng.randrange(n // 4, 3 * n // 4)
        wait_for(lambda: until_answered(lambda: tc.queue_status())["succeeded"] >= target,
                 timeout=120, what=f"{target} tasks to finish")
        c.kill_controller(signal.SIGKILL)
        c.start_controller()
    until_answered(lambda: tc.barrier(ids), timeout=300)
    results = {}
    for start in range(0, n, 1000):
        batch = ids[start:start + 1000]
        results.update(zip(batch, until_answered(lambda: tc._results(batch, True))))
    assert sorted(results) == ids  # one result per task
    for i, taskid in enumerate(ids):
        meta, buffers = results[taskid]
        assert meta["status"] == "succeeded", meta
    assert tc.queue_status()["succeeded"] == n
    return tc


def test_a_controller_killed_mid_run_loses_nothing(cluster_factory):
    c = cluster_factory().start(engines=2)
    tc = _run_through_restarts(c, 1000, restarts=1, seed=1)
    assert tc.map(square, range(10)) == [i * i for i in range(10)]


@pytest.mark.slow
def test_soak_5000_tasks_through_two_controller_kills(cluster_factory):
    c = cluster_factory().start(engines=2)
    _run_through_restarts(c, 5000 * SOAK, restarts=2 * SOAK, seed=2)


def _kill_engines_while_mapping(c, n, kills, seed):
    rng = random.Random(seed)
    tc = client.TaskClient(c.tc_furl)
    mec = client.MultiEngineClient(c.mec_furl)
    ids = tc.mapper(block=False, retries=10).map(square, range(n))
    for k in range(kills):
        target = (k + 1) * n // (kills + 2)
        wait_for(lambda: tc.queue_status()["succeeded"] >= target, timeout=120, what=f"{target} done")
        alive = [e for e in c.engines if e.poll() is None]
        victim = rng.choice(alive)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        c.start_engines(1, wait=False)
    tc.barrier(ids)
    values = [tc.get_task_result(t) for t in ids]
    assert values == [i * i for i in range(n)]
    assert tc.queue_status() == {"scheduled": 0, "pending": 0, "succeeded": n, "failed": 0}
    wait_for(lambda: len(mec.get_ids()) == 2, what="the replacement engines")


def test_engines_sigkilled_while_mapping_lose_nothing(cluster_factory):
    c = cluster_factory().start(engines=2)
    _kill_engines_while_mapping(c, 1000, kills=2, seed=3)


@pytest.mark.slow
def test_soak_10000_tasks_while_engines_are_killed(cluster_factory):
    c = cluster_factory().start(engines=2)
    _kill_engines_while_mapping(c, 10000 * SOAK, kills=8 * SOAK, seed=4)


def test_ids_returned_before_a_controller_kill_reach_its_successor_without_another_call(cluster_factory):
    c = cluster_factory().start(engines=1)
    tc = client.TaskClient(c.tc_furl)
    tc.barrier(tc.run(MapTask(square, (0,))))  # leases a block of ids
    c.controller.send_signal(signal.SIGSTOP)  # it reads nothing more: every run below stays unanswered
    ids = [tc.run(MapTask(square, (i,))) for i in range(1, 13)]  # within the first lease
    c.kill_controller(signal.SIGKILL)
    c.start_controller()
    other = client.TaskClient(c.tc_furl)  # tc makes no further call: its keeper sends them again
    until_answered(lambda: other.barrier(ids))
    assert [other.get_task_result(t) for t in ids] == [i * i for i in range(1, 13)]
    assert other.queue_status()["succeeded"] == 13


def couriers(directory):
    """The pids of the couriers delivering a spool file of ``directory``."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"kernel.client.courier" in command and any(str(directory).encode() in part for part in command):
            found.append(int(proc.name))
    return found


@pytest.fixture
def no_stray_couriers(tmp_path):
    yield
    for pid in couriers(tmp_path):
        os.kill(pid, signal.SIGKILL)


def end_a_script_while_the_controller_is_stopped(c, n, dropped=False):
    """Run ``n`` tasks in a script that ends while the controller reads nothing; their ids.

    ``dropped``: the script's TaskClient is gone (garbage) before it ends.
    """
    script = ("import sys\nfrom kernel.client import TaskClient, StringTask\n"
              "def submit():\n"
              "    tc = TaskClient(sys.argv[1])\n"
              "    tc.barrier(tc.run(StringTask('pass')))\n"  # connected, with a lease of ids
              "    print('ready', flush=True)\n    sys.stdin.readline()\n"
              f"    return tc, [tc.run(StringTask(f'x = {{i}} * 3', pull='x')) for i in range({n})]\n"
              f"tc, ids = submit()\n{'del tc' if dropped else ''}\n"
              "import gc; gc.collect()\nprint(ids, flush=True)\n")
    env = dict(os.environ, IPYTHONDIR=str(c.dir), KERNEL_CLIENT_EXIT_WAIT="0.5")
    with subprocess.Popen([sys.executable, "-c", script, c.tc_furl], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, env=env) as process:
        assert process.stdout.readline() == "ready\n"
        c.controller.send_signal(signal.SIGSTOP)  # nothing it is sent now is answered
        process.stdin.write("go\n")
        process.stdin.flush()
        ids = json.loads(process.stdout.readline())
        assert process.wait(timeout=60) == 0
    return ids


def test_a_script_that_ends_while_the_controller_is_down_hands_its_tasks_to_a_courier(
        cluster_factory, no_stray_couriers):
    c = cluster_factory().start(engines=1)
    ids = end_a_script_while_the_controller_is_stopped(c, 12)
    [spooled] = (c.dir / "spool").glob("*.spool")  # the script is gone; a courier holds its tasks
    c.kill_controller(signal.SIGKILL)
    c.start_controller()
    tc = client.TaskClient(c.tc_furl)
    until_answered(lambda: tc.barrier(ids))
    assert [tc.get_task_result(t).ns.x for t in ids] == [i * 3 for i in range(12)]
    wait_for(lambda: not spooled.exists() and not couriers(c.dir), what="the courier to deliver and end")


def test_tasks_a_dead_courier_left_are_sent_by_the_next_client_made_on_the_machine(
        cluster_factory, no_stray_couriers, monkeypatch):
    c = cluster_factory().start(engines=1)
    ids = end_a_script_while_the_controller_is_stopped(c, 5)
    wait_for(lambda: couriers(c.dir), what="the courier to start")
    for pid in couriers(c.dir):
        os.kill(pid, signal.SIGKILL)  # as if the machine had restarted: only the spool file is left
    c.kill_controller(signal.SIGKILL)
    c.start_controller()
    monkeypatch.setenv("IPYTHONDIR", str(c.dir))
    tc = client.TaskClient(c.tc_furl)  # finds the spool file no courier holds, and starts one
    until_answered(lambda: tc.barrier(ids))
    assert [tc.get_task_result(t).ns.x for t in ids] == [i * 3 for i in range(5)]
    wait_for(lambda: not list((c.dir / "spool").glob("*.spool")), what="the spool to empty")


def test_tasks_of_a_client_dropped_before_the_script_ends_are_stored(cluster_factory, no_stray_couriers):
    c = cluster_factory().start(engines=1)
    ids = end_a_script_while_the_controller_is_stopped(c, 12, dropped=True)
    c.kill_controller(signal.SIGKILL)  # what it had not read is gone
    c.start_controller()
    tc = client.TaskClient(c.tc_furl)
    until_answered(lambda: tc.barrier(ids))
    assert [tc.get_task_result(t).ns.x for t in ids] == [i * 3 for i in range(12)]
