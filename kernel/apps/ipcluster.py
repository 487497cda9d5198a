"""ipcluster: start a controller and its engines with one command, stop them with another.

    ipcluster local -n 4                 # also: ipcluster -n 4, ipcluster start -n 4
    ipcluster mpiexec -n 4 --mpi mpi4py  # engines are MPI ranks (also: mpirun)
    ipcluster ssh --clusterfile F        # engines on the hosts F lists
    ipcluster slurm|pbs|sge|lsf -n 16 [--queue Q] [--script TEMPLATE]
    ipcluster stop                       # from another shell, same --ipythondir
    ipcluster status                     # engines, queues and scheme of the cluster in DIR

It waits until all engines have registered, prints how to connect, and stays
in the foreground. Ctrl-C, SIGTERM or ``ipcluster stop`` stop the engines,
then the controller.
"""

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from kernel import config, paths
from kernel.apps import common
from kernel.cluster import REUSE_NEEDS_PORTS, Cluster, ClusterError, ClusterStopped, pid_file, running_ipcluster
from kernel.proctable import pid_alive

START_COMMANDS = ("local", "start", "mpiexec", "mpirun", "ssh", "slurm", "pbs", "sge", "lsf")
COMMANDS = (*START_COMMANDS, "stop", "status")
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
ERROR = "ipcluster: error"  # how its error lines start


positive_int = common.whole_number(1)


def _common_parser(default_n=2):
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--ipythondir", metavar="DIR",
                   help="cluster directory (default: $IPYTHONDIR or ~/.ipython)")
    p.add_argument("-n", "--num", dest="n", type=positive_int, default=default_n, metavar="N",
                   help=f"number of engines (default {default_n})")
    p.add_argument("--logdir", metavar="DIR", help="log directory (default: DIR/log)")
    p.add_argument("-r", dest="reuse_furls", action="store_true",
                   help="reuse the FURL files (needs --client-port and --engine-port)")
    p.add_argument("--client-port", type=common.port, default=0, metavar="N")
    p.add_argument("--engine-port", type=common.port, default=0, metavar="N")
    p.add_argument("--client-ip", metavar="IP", help="controller interface for clients")
    p.add_argument("--engine-ip", metavar="IP", help="controller interface for engines")
    p.add_argument("--engine-location", metavar="HOST",
                   help="host name(s) engines use to reach the controller (comma-separated)")
    p.add_argument("--work-dir", metavar="DIR",
                   help="the engines' working directory, where they import modules from "
                        "(default: this directory; for ssh: the remote home)")
    p.add_argument("--engine-cmd", metavar="CMD", help="the ipengine command (default: the one beside ipcluster)")
    p.add_argument("--engine-args", default="", metavar="ARGS", help="more ipengine flags, e.g. --engine-args='--controller-timeout 30'")
    p.add_argument("--controller-args", default="", metavar="ARGS", help="more ipcontroller flags")
    common.add_settings(p, "ipcluster")
    common.add_legacy_security(p)
    return p


def build_parser():
    top = common.Parser(prog="ipcluster", description="Start a controller and engines with one command.",
                        epilog="Without a command, 'local' is meant: ipcluster -n 4.")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=common.Parser)
    base = _common_parser()
    for name in ("local", "start"):
        sub.add_parser(name, parents=[base], help="engines as processes on this machine")
    for name in ("mpiexec", "mpirun"):
        p = sub.add_parser(name, parents=[base], help=f"engines started by {name}, one per rank")
        p.add_argument("--mpi", choices=("mpi4py",), help="initialise MPI in each engine (id = rank)")
        p.add_argument("--mpi-args", default="", metavar="ARGS",
                       help=f"more {name} flags, e.g. --mpi-args='--oversubscribe'")
        p.add_argument("--mpi-cmd", metavar="CMD", help=f"the {name} command (default: {name})")
    p = sub.add_parser("ssh", parents=[_common_parser(default_n=None)],
                       help="engines on other hosts, started over ssh")
    p.add_argument("--clusterfile", default="clusterfile.py", metavar="F",
                   help="Python file setting engines = {'host': count} (default clusterfile.py)")
    for name, system in (("slurm", "Slurm"), ("pbs", "PBS"), ("sge", "Grid Engine"), ("lsf", "LSF")):
        p = sub.add_parser(name, parents=[base], help=f"engines as a {system} job array")
        p.add_argument("-q", "--queue", metavar="Q", help="queue (partition) to submit to")
        p.add_argument("-s", "--script", metavar="TEMPLATE",
                       help="job script template ({n}, {queue}, {furl_file}, ... are filled in)")
    for name, what in (("stop", "stop the cluster ipcluster runs in DIR"),
                       ("status", "show the engines, queues and scheme of the cluster in DIR")):
        p = sub.add_parser(name, help=what)
        p.add_argument("--ipythondir", metavar="DIR")
        common.add_settings(p, f"ipcluster {name}")
    return top


def parse_args(argv):
    argv = list(argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv.insert(0, "local")
    return build_parser().parse_args(argv)


def launcher_options(args):
    kind = "local" if args.command == "start" else args.command
    options = {}
    if kind in ("mpiexec", "mpirun"):
        options = {"mpi": args.mpi, "mpi_args": args.mpi_args, "mpi_cmd": args.mpi_cmd}
    elif kind == "ssh":
        options = {"clusterfile": args.clusterfile}
    elif kind in ("slurm", "pbs", "sge", "lsf"):
        options = {"queue": args.queue, "script": args.script}
    return kind, options


def _split(text, flag):
    import shlex

    try:
        return shlex.split(text or "")
    except ValueError as e:
        raise common.UsageError(f"ipcluster: {flag}: {e}") from None


def make_cluster(args, say):
    kind, options = launcher_options(args)
    if args.reuse_furls and not (args.client_port and args.engine_port):
        raise common.UsageError(f"ipcluster: {REUSE_NEEDS_PORTS}")
    return Cluster(
        n=args.n or 1, ipythondir=paths.ipython_dir(args.ipythondir), launcher=kind,
        logdir=args.logdir, timeout=args.timeout, stop_timeout=args.stop_timeout,
        client_port=args.client_port, engine_port=args.engine_port, reuse_furls=args.reuse_furls,
        scheme=args.scheme, relays=args.relays, client_ip=args.client_ip, engine_ip=args.engine_ip,
        engine_location=args.engine_location,
        controller_args=_split(args.controller_args, "--controller-args"),
        engine_args=_split(args.engine_args, "--engine-args"),
        engine_cmd=args.engine_cmd, work_dir=args.work_dir, memory_limit=args.memory_limit,
        restart_limit=args.restart_limit, restart_window=args.restart_window, fork_engines=args.fork_engines,
        die_with_parent=True, log=say, **options,
    )


def _run(args, stdout, stderr):
    common.warn_legacy_security(args, stderr)

    def say(message):
        print(f"ipcluster: {message}", file=stdout, flush=True)

    def error(message):
        print(f"ipcluster: error: {message}", file=stderr, flush=True)

    directory = paths.ipython_dir(args.ipythondir)
    args.ipythondir = str(directory)
    try:
        cluster = make_cluster(args, say)
    except config.ConfigError as e:
        error(str(e))
        return 2
    if args.show_config:
        print("\n".join(cluster.settings.show()), file=stdout)
        return 0
    other = running_ipcluster(directory)
    if other is not None:
        error(f"a cluster is already running in {directory} (ipcluster pid {other}); "
              f"stop it with: ipcluster stop --ipythondir {directory}")
        return 1
    received = []

    def on_signal(signum, frame):
        received.append(signal.Signals(signum).name)
        cluster.request_stop()

    previous = {}
    for name in STOP_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is not None:
            previous[sig] = signal.signal(sig, on_signal)
    own_pid_file = pid_file(directory)
    own_pid_file.parent.mkdir(parents=True, exist_ok=True)
    own_pid_file.write_text(f"{os.getpid()}\n")
    code = 0
    try:
        try:
            cluster.start()
        except ClusterStopped:
            say(f"stopping ({received[0] if received else 'stop requested'}) before all engines registered")
            return 1
        except ClusterError as e:
            error(str(e))
            say("stopped everything it had started")
            return 1
        say(f"cluster running in {cluster.ipythondir}: controller pid {cluster.controller.pid}, "
            f"{cluster.engines.describe()}")
        print(cluster.connection_info(), file=stdout, flush=True)
        say(f"stop with Ctrl-C, or from another shell: ipcluster stop --ipythondir {cluster.ipythondir}")
        while not cluster.wait_stop_requested(0.5):
            problem = cluster.controller.failure()
            if problem:
                error(f"{problem}\n{cluster.controller.report()}")
                code = 1
                break
        if received:
            say(f"stopping ({received[0]})")
    finally:
        problems = cluster.stop()
        for problem in problems:
            error(problem)
            code = 1
        try:
            if own_pid_file.read_text().split()[0] == str(os.getpid()):
                own_pid_file.unlink()
        except (OSError, IndexError):
            pass
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    say("stopped")
    return code


def _stop(args, stdout, stderr):
    directory = Path(args.ipythondir or os.environ.get("IPYTHONDIR") or "~/.ipython").expanduser().resolve()
    timeout = common.load_settings(args, "ipcluster stop", directory, ERROR).stop_wait
    pid = running_ipcluster(directory)
    if pid is None:
        print(f"ipcluster: no cluster is running in {directory}", file=stderr)
        return 1
    print(f"ipcluster: stopping the cluster in {directory} (ipcluster pid {pid})", file=stdout, flush=True)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            print(f"ipcluster: error: ipcluster (pid {pid}) is still running after {timeout:g} s",
                  file=stderr)
            return 1
        time.sleep(0.05)
    print("ipcluster: stopped", file=stdout)
    return 0


def _status(args, stdout, stderr):
    """Connect with DIR's FURL files and print engines, queues and the scheme."""
    from kernel.client.multiengine import MultiEngineClient, format_table
    from kernel.client.taskclient import TaskClient
    from kernel.errors import KernelError

    directory = paths.ipython_dir(args.ipythondir)
    timeout = common.load_settings(args, "ipcluster status", directory, ERROR).status_timeout
    security = paths.security_dir(directory)
    mec_file, tc_file = security / paths.MEC_FURL, security / paths.TC_FURL
    if not mec_file.exists():
        print(f"ipcluster: no cluster is running in {directory} (no {mec_file.name})", file=stderr)
        return 1
    try:
        mec = MultiEngineClient(str(mec_file), connect_timeout=timeout)
    except (OSError, KernelError) as e:
        print(f"ipcluster: no cluster is running in {directory} (cannot reach its controller: {e})",
              file=stderr)
        return 1
    try:
        info = mec.engine_info(timeout=timeout)
        engines = info["engines"]
        queues = dict(mec.queue_status(targets=[e["id"] for e in engines])) if engines else {}
        tasks = None
        if tc_file.exists():
            with TaskClient(str(tc_file), connect_timeout=timeout) as tc:
                tasks = dict(tc.queue_status())
    except (OSError, KernelError) as e:
        print(f"ipcluster: error: the controller in {directory} did not answer: {e}", file=stderr)
        return 1
    finally:
        mec.close()
    pid = running_ipcluster(directory)
    owner = f"ipcluster pid {pid}" if pid is not None else "not started by ipcluster"
    print(f"ipcluster: cluster in {directory} ({owner})", file=stdout)
    print(f"scheme: {info.get('scheme') or 'unknown'}", file=stdout)
    if info.get("relays"):
        print(f"relays: {info['relays']} (processes holding the engines' connections)", file=stdout)
    print(f"engines: {len(engines)}", file=stdout)
    if engines:
        rows = []
        for e in engines:
            queue = queues.get(e["id"], {})
            rows.append([e["id"], e.get("host"), e.get("pid"), queue.get("pending", "?"),
                         len(queue.get("queue") or [])])
        print(format_table(["engine", "host", "pid", "running", "queued"], rows), file=stdout)
    if tasks is not None:
        print("tasks: " + ", ".join(f"{k} {v}" for k, v in tasks.items()), file=stdout)
    stdout.flush()
    return 0


def _main(argv, stdout, stderr):
    args = parse_args(argv)
    if args.command == "stop":
        return _stop(args, stdout, stderr)
    if args.command == "status":
        return _status(args, stdout, stderr)
    return _run(args, stdout, stderr)


def main(argv=None, stdout=None, stderr=None):
    return common.run_main(_main, sys.argv[1:] if argv is None else argv, stdout, stderr)


if __name__ == "__main__":
    sys.exit(main())
