"""Engines that die, hang or lose their controller."""

import os
import signal
import time
from pathlib import Path

from tests.harness import wait_for

# Fast enough to find a stopped engine in seconds; slow enough that a healthy engine on a loaded
# machine is never taken for a dead one. A killed engine or controller needs none: its connections close.
HEARTBEAT_TIMEOUT = 3.0
HEARTBEATS = ["--heartbeat-period", "0.5", "--heartbeat-timeout", str(HEARTBEAT_TIMEOUT)]


def fast_heartbeats(cluster_factory):
    return cluster_factory(controller_args=HEARTBEATS).start(engines=2)


def test_sigkilled_engine_is_unregistered_and_its_id_reused(cluster_factory):
    c = cluster_factory().start(engines=2)
    mec = c.client()
    pids = dict(zip(mec.get_ids(), [r["stdout"] for r in mec.execute("import os; print(os.getpid())")]))
    victim = next(p for p in c.engines if str(p.pid) == pids[0].strip())
    victim.kill()
    wait_for(lambda: mec.get_ids() == [1], what="engine 0 to be unregistered")
    c.start_engines(1, wait=False)
    wait_for(lambda: mec.get_ids() == [0, 1], what="a new engine to take the lowest free id")


def test_sigstopped_engine_is_unregistered_then_returns_as_a_fresh_engine(cluster_factory):
    c = fast_heartbeats(cluster_factory)
    mec = c.client()
    pids = {r["id"]: int(r["stdout"]) for r in mec.execute("import os; print(os.getpid())")}
    os.kill(pids[1], signal.SIGSTOP)
    try:
        wait_for(lambda: mec.get_ids() == [0], what="the stopped engine to be declared dead")
        assert mec.execute("a = 1", targets=0)[0]["id"] == 0  # the others keep working
    finally:
        os.kill(pids[1], signal.SIGCONT)
    wait_for(lambda: mec.get_ids() == [0, 1], what="the resumed engine to re-register")
    assert mec.pull("id") == [0, 1]


def test_an_engine_computing_past_the_heartbeat_timeout_stays_and_keeps_its_queue(cluster_factory, tmp_path):
    c = fast_heartbeats(cluster_factory)
    mec = c.client()
    marker, release = tmp_path / "computing", tmp_path / "release"
    spin = (f"import os\nopen({str(marker)!r}, 'w').close()\n"
            f"while not os.path.exists({str(release)!r}):\n"
            "    for _ in range(2_000_000): pass")  # holds the GIL but for a look every 2 million turns
    busy = mec.execute(spin, targets=0, block=False)
    try:
        wait_for(marker.exists, what="engine 0 to start computing")
        queued = [mec.execute("a = 1", targets=0, block=False), mec.execute("b = a + 1", targets=0, block=False)]
        computing = time.monotonic()
        past = 1.5 * HEARTBEAT_TIMEOUT
        wait_for(lambda: mec.get_ids() != [0, 1] or time.monotonic() - computing > past, 2 * past,
                 what="the heartbeat timeout to pass, or an engine to leave")
        assert mec.get_ids() == [0, 1]
    finally:
        release.touch()
    assert busy.r[0]["id"] == 0  # not EngineDied: its heartbeats went on past the timeout
    assert [pr.r[0]["id"] for pr in queued] == [0, 0]
    assert mec.pull("b", targets=0) == [2]
    assert mec.get_ids() == [0, 1]


def test_engines_re_register_after_a_controller_restart(cluster_factory):
    c = cluster_factory().start(engines=2)
    c.kill_controller()
    c.start_controller()  # new random ports and swissnums: engines re-read the FURL file
    mec = c.client()
    wait_for(lambda: mec.get_ids() == [0, 1], what="both engines to re-register")
    assert sorted(mec.pull("id")) == [0, 1]


def test_engine_started_before_the_controller_waits_for_its_furl(cluster_factory):
    c = cluster_factory()
    c.start_engines(1, wait=False)
    c.start_controller()
    c.wait_for_engines(1)


def test_engine_without_a_controller_gives_up_after_its_timeout(cluster_factory):
    c = cluster_factory()
    c.start_controller()
    c.kill_controller()
    [engine] = c.start_engines(1, "--controller-timeout", "1", wait=False)
    assert engine.wait(30) == 1
    assert "no controller for" in c.output(engine)


def voluntary_switches(pid):
    """How many times the threads of process ``pid`` have gone to sleep so far."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                total += int(line.split()[1])
    return total


def test_user_code_runs_on_the_main_thread_with_a_stand_in_for_long_commands(cluster):
    mec = cluster.client()
    mec.execute("import threading\n"
                "on_main = threading.current_thread() is threading.main_thread()\n"
                "others = sorted(t.name for t in threading.enumerate() if t is not threading.current_thread())")
    on_main, others = mec.pull(("on_main", "others"), targets=0)[0]
    assert on_main and others == ["stand-in"]


def test_an_idle_engine_is_not_woken_between_heartbeats(cluster_factory):
    c = cluster_factory(controller_args=["--heartbeat-period", "60", "--heartbeat-timeout", "180"])
    c.start_controller()
    [engine] = c.start_engines(1)
    mec = c.client()
    assert mec.execute("x = 1")[0]["id"] == 0  # registered, and served one command
    before = voluntary_switches(engine.pid)
    time.sleep(3.0)  # the window observed, with no heartbeat due in it
    woken = voluntary_switches(engine.pid) - before
    assert woken < 10, f"an idle engine's threads woke {woken} times in 3 s: something polls"
