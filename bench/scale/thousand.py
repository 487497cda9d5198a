"""python -m bench.scale.thousand [--engines 1000] [--real N] [--per-swarm 250] [--tasks 100000]

One controller and many engines: ``--real`` of them ipengine processes
(forked by the fork server, as ``ipcluster local`` starts them), the rest in
swarm processes of ``--per-swarm`` engines each (``kernel.apps.swarm``:
every engine its own TLS connection, speaking the real protocol). Measures,
in this order: start-up to every engine registered; the controller's CPU
with every engine idle; a broadcast no-op (median wall time, the
controller's CPU per broadcast and per engine); a map of ``--tasks`` tiny
tasks (wall time, the controller's CPU per task); the engines' memory; and
how long the controller takes to unregister engines whose process was
killed (connections closed) and whose process was stopped (the scaled
heartbeat timeout). Prints the figures and writes
``bench/results/thousand-<timestamp>.json``.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench import procs, report
from bench.remote import noop
from bench.systems.kernel import program
from bench.timing import MB, clock, wait_for

IDLE_WINDOW = 10.0  # seconds of idle controller CPU measured
BROADCASTS = 50
TIMEOUT = 600.0  # for each wait; nothing here should come near it


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m bench.scale.thousand", description=__doc__.split("\n\n")[1])
    p.add_argument("--engines", type=int, default=1000)
    p.add_argument("--real", type=int, default=0, help="of them, ipengine processes (default 0: all in swarms)")
    p.add_argument("--per-swarm", type=int, default=250)
    p.add_argument("--tasks", type=int, default=100_000)
    p.add_argument("--controller-args", default="", help="more ipcontroller flags, one string")
    return p.parse_args(argv)


class Thousand:
    def __init__(self, args):
        self.args = args
        self.dir = Path(tempfile.mkdtemp(prefix="bench-thousand-"))
        self.logs = []
        self.controller = None
        self.swarms = []
        self.launcher = None

    def spawn(self, argv, name):
        log = open(self.dir / f"{name}.out", "w")
        self.logs.append(log)
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))

    def furl(self, name):
        return self.dir / "security" / name

    def start(self):
        """Start everything at once, as ipcluster would; how long until every engine is registered."""
        from kernel.client import MultiEngineClient
        from kernel.launchers import LaunchContext
        from kernel.launchers.local import LocalEngineSetLauncher

        args = self.args
        t0 = clock()
        self.controller = self.spawn([*program("ipcontroller"), "--ipythondir", str(self.dir),
                                      "--client-ip", "127.0.0.1", "--engine-ip", "127.0.0.1",
                                      *args.controller_args.split()], "ipcontroller")
        if args.real:
            context = LaunchContext(ipythondir=self.dir, logdir=self.dir, engine_furl_file=self.furl(
                "ipcontroller-engine.furl"), env=dict(os.environ, PYTHONUNBUFFERED="1"),
                engine_cmd=program("ipengine"), fork_engines=True)
            self.launcher = LocalEngineSetLauncher(context, args.real)
            self.launcher.start()
        rest = args.engines - args.real
        while rest > 0:
            n = min(args.per_swarm, rest)
            self.swarms.append(self.spawn([sys.executable, "-m", "kernel.apps.swarm", "--ipythondir", str(self.dir),
                                           "--engines", str(n)], f"swarm-{len(self.swarms)}"))
            rest -= n
        wait_for(lambda: self.furl("ipcontroller-mec.furl").exists(), TIMEOUT, what="the controller")
        self.mec = MultiEngineClient(str(self.furl("ipcontroller-mec.furl")))
        wait_for(lambda: len(self.mec.get_ids()) == args.engines, TIMEOUT, what=f"{args.engines} engines")
        return {"seconds": clock() - t0, "controller_cpu_s": self.controller_cpu()}

    def controller_cpu(self):
        return procs.cpu_seconds(self.controller.pid)

    def idle(self):
        time.sleep(2.0)  # the registrations' last work drains
        cpu, t0 = self.controller_cpu(), clock()
        time.sleep(IDLE_WINDOW)
        return 100 * (self.controller_cpu() - cpu) / (clock() - t0)

    def broadcast(self, idle_percent):
        for _ in range(5):
            self.mec.execute("pass")
        durations = []
        cpu, t0 = self.controller_cpu(), clock()
        for _ in range(BROADCASTS):
            started = clock()
            assert len(self.mec.execute("pass")) == self.args.engines
            durations.append(clock() - started)
        used = self.controller_cpu() - cpu - idle_percent / 100 * (clock() - t0)
        per_call = used / BROADCASTS
        return {"median_ms": statistics.median(durations) * 1e3, "controller_cpu_ms": per_call * 1e3,
                "controller_cpu_us_per_engine": per_call / self.args.engines * 1e6}

    def map(self):
        from kernel.client import TaskClient

        tc = TaskClient(str(self.furl("ipcontroller-tc.furl")))
        try:
            cpu, t0 = self.controller_cpu(), clock()
            results = tc.map(noop, range(self.args.tasks))
            wall = clock() - t0
            used = self.controller_cpu() - cpu
        finally:
            tc.close()
        assert len(results) == self.args.tasks
        return {"wall_s": wall, "tasks_per_s": self.args.tasks / wall,
                "controller_cpu_us_per_task": used / self.args.tasks * 1e6}

    def memory(self):
        out = {}
        if self.launcher is not None:
            used = procs.memory(self.launcher.pids)
            out["real_rss_mb"] = used["rss"] / len(self.launcher.pids) / MB
            out["real_pss_mb"] = used["pss"] / len(self.launcher.pids) / MB
        if self.swarms:
            used = procs.memory([s.pid for s in self.swarms])
            out["swarm_rss_mb_per_engine"] = used["rss"] / (self.args.engines - self.args.real) / MB
        out["controller_rss_mb"] = procs.memory([self.controller.pid])["rss"] / MB
        return out

    def deaths(self):
        """Seconds to unregister a killed swarm's engines, then a stopped one's (and the scaled timeout)."""
        out = {}
        if len(self.swarms) < 2:
            return out
        n = len(self.mec.get_ids())
        killed, stopped = self.swarms[:2]
        lost = self.args.per_swarm
        t0 = clock()
        killed.kill()
        wait_for(lambda: len(self.mec.get_ids()) == n - lost, TIMEOUT, what="the killed swarm's engines to go")
        out["killed_s"] = clock() - t0
        t0 = clock()
        os.kill(stopped.pid, signal.SIGSTOP)
        try:
            wait_for(lambda: len(self.mec.get_ids()) == n - 2 * lost, TIMEOUT, interval=0.2,
                     what="the stopped swarm's engines to go")
            out["stopped_s"] = clock() - t0
        finally:
            os.kill(stopped.pid, signal.SIGCONT)
        return out

    def stop(self):
        try:
            self.mec.close()
        except Exception:
            pass
        if self.launcher is not None:
            self.launcher.stop()
        procs.stop_popen([*self.swarms, self.controller])
        for log in self.logs:
            log.close()


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    run = {"started": datetime.now().isoformat(timespec="seconds"), "machine": report.machine(),
           "options": vars(args), "load_before": report.load_average()}
    t = Thousand(args)
    try:
        run["startup"] = t.start()
        print(f"{args.engines} engines ({args.real} ipengine processes) registered in {run['startup']['seconds']:.2f} s "
              f"(the controller's CPU from its start: {run['startup']['controller_cpu_s']:.2f} s)", flush=True)
        run["idle_cpu_percent"] = t.idle()
        print(f"controller idle: {run['idle_cpu_percent']:.2f}% of a core", flush=True)
        run["broadcast"] = t.broadcast(run["idle_cpu_percent"])
        print("broadcast no-op: {median_ms:.1f} ms median, controller {controller_cpu_ms:.1f} ms of CPU, "
              "{controller_cpu_us_per_engine:.1f} µs per engine".format(**run["broadcast"]), flush=True)
        run["map"] = t.map()
        print("map of {n:,} tiny tasks: {wall_s:.1f} s, {tasks_per_s:,.0f} tasks/s, controller "
              "{controller_cpu_us_per_task:.0f} µs per task".format(n=args.tasks, **run["map"]), flush=True)
        run["memory"] = t.memory()
        print("memory: " + ", ".join(f"{k} {v:.1f}" for k, v in run["memory"].items()), flush=True)
        run["deaths"] = t.deaths()
        if run["deaths"]:
            print("unregistered: a killed swarm's engines after {killed_s:.2f} s, a stopped one's after "
                  "{stopped_s:.1f} s".format(**run["deaths"]), flush=True)
    finally:
        t.stop()
        run["load_after"] = report.load_average()
    path = report.write_json(run, prefix="thousand-")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
