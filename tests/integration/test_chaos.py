"""The chaos run: 8 engines, engines and the controller SIGKILLed at random while clients submit, then exit
or go idle; every id a ``run()`` returned has its result, once, with the right value. It runs twice: with
the controller holding the engines' connections, and with two relays holding them (``--relays 2``).

Real processes throughout: a ``kernel.cluster.Cluster`` (whose supervisor restarts the engines that die)
on fixed ports, so the controller, SIGKILLed twice, comes back on the same ports and directory; clients
are scripts of their own (chaos_client.py). The schedule is drawn from a fixed seed: each event waits
until the stored results reach its share of the tasks, so it lands at the same point of the run however
fast the machine is. ``make test`` runs 10,000 tasks and 6 engine kills; ``make soak`` ten times more.
"""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from kernel.client import TaskClient
from kernel.cluster import Cluster
from tests.harness import wait_for
from tests.integration.chaos_client import square
from tests.launchers.helpers import kill_processes_using

SOAK = int(os.environ.get("KERNEL_SOAK_SCALE", "1"))  # `make soak` runs the soak tests ten times larger
ENGINES = 8
TASKS = 10_000 * SOAK
ENGINE_KILLS = 6 * SOAK
SEED = 18
CLIENT = Path(__file__).with_name("chaos_client.py")
# (kind, share of the tasks, whether it starts with the run or at a point of it drawn from the seed);
# those that start with the run hold 60% of the tasks, so every point up to 60% is reached without the others
CLIENTS = [("window", 0.2, True), ("window", 0.2, True), ("map", 0.2, True),
           ("exit", 0.15, False), ("idle", 0.15, False), ("exit", 0.1, False)]
STALL = 120.0 * SOAK  # seconds without reaching the next point of the schedule: the run is stuck


def unused_port():
    """A free port below the ephemeral range, so no outgoing connection takes it while the controller is down.

    Drawn apart from the schedule's seed: two runs at once (make test beside another) must not pick the same.
    """
    rng = random.SystemRandom()
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        port = rng.randrange(20000, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


class Client:
    """One chaos_client.py process and the JSON lines it writes."""

    def __init__(self, directory, index, kind, start, stop, env):
        self.kind, self.start, self.stop = kind, start, stop
        self.out = directory / f"client{index}-{kind}.jsonl"
        self.err = open(directory / f"client{index}-{kind}.err", "w")
        self.proc = subprocess.Popen([sys.executable, str(CLIENT), kind, str(start), str(stop), str(self.out)],
                                     stdin=subprocess.PIPE, stdout=self.err, stderr=subprocess.STDOUT, env=env)

    def entries(self):
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.endswith("}")]

    def done(self):
        return any("done" in e for e in self.entries())

    def failed(self):
        """Why this client ended before it was done, or None."""
        code = self.proc.poll()
        if code not in (None, 0) or (code == 0 and not self.done()):
            self.err.flush()
            return f"{self.kind} client exited with {code}: {Path(self.err.name).read_text()[-3000:]}"
        return None

    def release(self):
        """Let an idle client go: it exits when its stdin closes."""
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()

    def kill(self):
        self.release()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.err.close()


class ChaosRun:
    """The cluster, the clients and the schedule of one chaos run, with what happened to each."""

    def __init__(self, directory, rng, relays=0):
        self.dir = directory
        self.rng = rng
        self.cluster = Cluster(n=ENGINES, ipythondir=directory / "ipython", client_port=unused_port(),
                               engine_port=unused_port(), reuse_furls=True, restart_limit=ENGINE_KILLS,
                               restart_window=3600, relays=relays)
        self.env = dict(os.environ, IPYTHONDIR=str(directory / "ipython"), PYTHONUNBUFFERED="1")
        self.clients = []
        self.events = []  # (seconds since the start, what)
        self.started = None
        self.monitor = None

    def log(self, what):
        self.events.append((round(time.monotonic() - self.started, 2), what))

    def answered(self, call):
        """``call()``, repeated while the controller is down; a controller that exited fails at once."""
        box = []

        def attempt():
            problem = self.cluster.controller.failure()
            if problem:
                raise RuntimeError(f"{problem}\n{self.cluster.controller.report()}")
            try:
                box.append(call())
                return True
            except ConnectionError:  # killed, or not listening yet
                return False

        wait_for(attempt, STALL, interval=0.05, what="the controller to answer")
        return box[0]

    def stored(self):
        return self.answered(self.monitor.queue_status)["succeeded"]

    def schedule(self):
        """[(share of the tasks stored, action, argument)], drawn from the seed, in order."""
        rng, plan, at = self.rng, [], 0
        for kind, share, first in CLIENTS:
            count = round(share * TASKS)
            plan.append((0.0 if first else rng.uniform(0.0, 0.5), "client", (kind, at, at + count)))
            at += count
        plan += [(rng.uniform(low, low + 0.25), "kill controller", None) for low in (0.2, 0.6)]  # twice
        plan += [(rng.uniform(0.02, 0.97), "kill engine", rng.randrange(ENGINES)) for _ in range(ENGINE_KILLS)]
        return sorted(plan, key=lambda step: step[0])

    def start(self):
        self.cluster.start()
        self.started = time.monotonic()
        self.monitor = TaskClient(str(self.cluster.tc_furl_file))

    def play(self):
        """Run the schedule; return None, or why it stopped (a point of the run never reached)."""
        for share, action, argument in self.schedule():
            target = int(share * TASKS)
            try:
                wait_for(lambda: self.stored() >= target or self.client_failure(), STALL, interval=0.05,
                         what=f"{target} results stored, to {action}")
            except TimeoutError as e:
                return f"{e} (stored: {self.stored()})"
            if self.client_failure():
                return self.client_failure()
            getattr(self, action.replace(" ", "_"))(argument)
        return None

    def client_failure(self):
        return next((why for why in (c.failed() for c in self.clients) if why), None)

    # -- the actions --------------------------------------------------------------------

    def client(self, argument):
        kind, start, stop = argument
        self.clients.append(Client(self.dir, len(self.clients), kind, start, stop, self.env))
        self.log(f"{kind} client started for tasks {start}..{stop - 1}")

    def kill_engine(self, slot):
        engines, supervisor = self.cluster.engines, self.cluster.supervisor
        pid = engines.pids[slot]
        os.kill(pid, signal.SIGKILL)

        def handled():  # the supervisor has seen the death and restarted the engine, or said why not
            death = next((d for d in supervisor.history if d["pid"] == pid), None)
            return death if death and (death["restarted"] or death["why_not"]) else None

        death = wait_for(handled, what=f"the supervisor to restart engine slot {slot}")
        assert death["restarted"] == engines.pids[slot], death
        self.log(f"engine pid {pid} (slot {slot}) SIGKILLed at {self.stored()} stored; "
                 f"restarted as {death['restarted']}")

    def kill_controller(self, _):
        controller = self.cluster.controller
        pid = controller.pid
        os.kill(pid, signal.SIGKILL)
        controller.proc.wait(10)
        controller.start()  # the same ports, directory, key and FURLs
        self.log(f"controller pid {pid} SIGKILLed; restarted as {controller.pid}, {self.stored()} stored")

    # -- the end ------------------------------------------------------------------------

    def finish_clients(self):
        """Wait for every client to be done, let the idle ones go, and wait for each to exit."""
        wait_for(lambda: all(c.done() for c in self.clients) or self.client_failure(), STALL, interval=0.1,
                 what="every client to submit its tasks")
        for c in self.clients:
            c.release()
        for c in self.clients:
            c.proc.wait(STALL)
        assert not self.client_failure(), self.client_failure()
        spool = self.dir / "ipython" / "spool"
        wait_for(lambda: not list(spool.glob("*.spool")), STALL, interval=0.1,
                 what="the couriers to deliver the tasks of clients that ended first")

    def returned_ids(self):
        """{taskid: i} of every id the clients' ``run()`` and mappers returned; fails on an id given twice."""
        pairs = [pair for c in self.clients for e in c.entries() for pair in e.get("ids", ())]
        twice = [taskid for taskid, n in Counter(taskid for _, taskid in pairs).items() if n > 1]
        assert not twice, f"ids returned twice: {twice[:20]}"
        expected = sorted(i for c in self.clients if c.kind != "map" for i in range(c.start, c.stop))
        assert sorted(i for i, _ in pairs) == expected, "some task was not submitted exactly once"
        return {taskid: i for i, taskid in pairs}

    def check(self, ids):
        """Every id's stored result: [(taskid, what is wrong)], empty when all are right."""
        tc = TaskClient(str(self.cluster.tc_furl_file))
        try:
            self.answered(lambda: tc.barrier(sorted(ids)))
        except IndexError as e:  # an id leased and never stored (after a bounded wait): which ones, below
            self.log(f"barrier: {type(e).__name__}: {e}")
        status = {row["taskid"]: row["status"] for row in self.answered(lambda: tc.timeline(sorted(ids)))}
        wrong = [(taskid, f"missing: the controller does not know it (square({i}))")
                 for taskid, i in sorted(ids.items()) if taskid not in status]
        for taskid in sorted(set(ids) & set(status)):
            try:
                value = self.answered(lambda: tc.get_task_result(taskid))
            except Exception as e:  # the task failed: its exception is raised here
                wrong.append((taskid, f"{status[taskid]}: {type(e).__name__}: {e}"))
                continue
            if value != square(ids[taskid]):
                wrong.append((taskid, f"{status[taskid]}: square({ids[taskid]}) is {value!r}"))
        tc.close()
        return wrong

    def stop(self):
        for c in self.clients:
            c.kill()
        if self.monitor is not None:
            self.monitor.close()
        self.cluster.stop()
        kill_processes_using(self.dir)  # a courier outlives the script that spooled its tasks


@pytest.mark.slow
@pytest.mark.timeout(300 * SOAK)
@pytest.mark.parametrize("relays", [0, 2], ids=["controller", "relays"])
def test_chaos_every_returned_id_has_its_result_once(tmp_path, relays):
    run = ChaosRun(tmp_path, random.Random(SEED), relays)
    try:
        run.start()
        stuck = run.play()
        run.finish_clients()
        ids = run.returned_ids()
        wrong = run.check(ids)
        checked_by_maps = sum(e.get("checked", 0) for c in run.clients for e in c.entries())
        status = run.answered(run.monitor.queue_status)
        run.log(f"checked {len(ids)} results of run() ids and {checked_by_maps} values of maps; {dict(status)}")
        assert stuck is None, f"the run got stuck: {stuck}"
        assert not wrong, f"{len(wrong)} of {len(ids)} ids are wrong, the first: {wrong[:20]}"
        assert len(ids) + checked_by_maps == TASKS
        assert status["failed"] == 0 and status["pending"] == 0 and status["scheduled"] == 0, status
        mec = run.cluster.mec()
        wait_for(lambda: len(run.answered(mec.get_ids)) == ENGINES, what=f"{ENGINES} engines registered after the run")
    finally:
        print("\nchaos run:", *(f"{t:8.2f} s  {what}" for t, what in run.events), sep="\n")
        run.stop()
