"""ipengine: connect to a controller and run the Python code it is sent."""

import gc
import os
import sys
import time

from kernel import paths
from kernel import furl as furls
from kernel.apps import common
from kernel.errors import BadFURLError
from kernel.retry import backoff_policy
from kernel.wire import shm


def build_parser():
    p = common.Parser(prog="ipengine", description="Start an engine and connect it to the controller.")
    common.add_common(p)
    p.add_argument("--furl-file", metavar="F", help="engine FURL file (default: DIR/security/ipcontroller-engine.furl)")
    p.add_argument("--mpi", choices=("mpi4py", ""), default="", help="use MPI; the engine's id is its rank")
    p.add_argument("--work-dir", metavar="DIR",
                   help="run in DIR and import the modules there (default: the current directory)")
    p.add_argument("--fork-server", action="store_true",
                   help="instead of being an engine, fork one with the other options for each request on "
                        "stdin (the local launcher's; see kernel.apps.forkserver)")
    common.add_settings(p, "ipengine")
    return p


FURL_POLL = 0.01  # seconds between looks for the FURL file: a stat() each, and a sooner start


def wait_for_furl(path, timeout):
    """Engines may start before the controller: wait (bounded) for its FURL file."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise common.UsageError(f"ipengine: no FURL file at {path} after {timeout:g} s "
                                    "(is the controller running with this --ipythondir?)")
        time.sleep(FURL_POLL)
    while True:
        try:
            return furls.load(path)
        except BadFURLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(FURL_POLL)  # being written


def furl_source(furl, path):
    """The FURL to use now: the file's current content when it names one."""
    last = [furl]

    def current():
        if path is not None:
            try:
                last[0] = furls.load(path)
            except (BadFURLError, OSError):
                pass  # keep the last good one
        return last[0]

    return current


def enter_work_dir(work_dir):
    """Run user code in ``work_dir``, and let it import the modules there.

    As 0.10's engines did: ``''`` leads ``sys.path``, so ``import mymod``
    finds ``mymod.py`` in the engine's current directory, as it would in an
    interactive Python started there (and follows a later ``os.chdir``).
    """
    if work_dir:
        try:
            os.chdir(work_dir)
        except OSError as e:
            raise common.UsageError(f"ipengine: --work-dir {work_dir}: {e.strerror}") from None
    if "" not in sys.path:
        sys.path.insert(0, "")


def setup_mpi(kind):
    if kind != "mpi4py":
        return None, None
    from mpi4py import MPI

    MPI.size = MPI.COMM_WORLD.Get_size()
    MPI.rank = MPI.COMM_WORLD.Get_rank()
    return MPI, MPI.rank


def _main(argv, stdout, stderr):
    args = build_parser().parse_args(argv)
    if args.fork_server:
        from kernel.apps import forkserver

        return forkserver.serve([a for a in argv if a != "--fork-server"], main)
    base = paths.ipython_dir(args.ipythondir)
    settings = common.load_settings(args, "ipengine", base)
    if args.show_config:
        print("\n".join(settings.show()), file=stdout)
        return 0
    furl_file = args.furl_file or str(paths.security_dir(base) / paths.ENGINE_FURL)
    if not furl_file.startswith("pb://"):
        furl_file = os.path.abspath(furl_file)  # before --work-dir moves us
    log_file = common.log_path("ipengine", base, args.logfile)
    # imported before the wait, not after: started beside the controller, as
    # ipcluster does, the engine has them ready when the FURL file appears
    from twisted.internet import reactor

    from kernel.engine.runner import Engine

    enter_work_dir(args.work_dir)  # after our own imports: the user's modules shadow none of them
    try:
        furl = furls.load(furl_file) if furl_file.startswith("pb://") else wait_for_furl(furl_file, settings.furl_wait)
    except BadFURLError as e:
        print(f"ipengine: {e}", file=stderr)
        return 2
    if settings.shared_memory:
        shm.sweep()
    else:
        shm.disable()
    mpi, rank = setup_mpi(args.mpi)
    common.start_logging(log_file, base, reactor)
    print(f"ipengine: connecting to {furl.hints[0][0]}:{furl.hints[0][1]}; log in {log_file}", file=stdout)
    stdout.flush()
    source = furl_source(furl, None if furl_file.startswith("pb://") else furl_file)
    engine = Engine(reactor, source, mpi=mpi, desired_id=rank,
                    give_up_after=settings.controller_timeout, heartbeat_timeout=settings.heartbeat_timeout,
                    policy=backoff_policy(maximum=settings.reconnect_max_delay))
    if settings.memory_limit:
        from kernel.engine.memory import MemoryWatch

        engine.memory = MemoryWatch(engine, settings.memory_limit).start()
    gc.freeze()  # what start-up made stays out of the collector's full passes (as a forked engine's does)
    code = engine.run()
    if engine.exit_reason:
        print(f"ipengine: stopped: {engine.exit_reason}", file=stderr)
    return code


def main(argv=None, stdout=None, stderr=None):
    return common.run_main(_main, sys.argv[1:] if argv is None else argv, stdout, stderr)


if __name__ == "__main__":
    sys.exit(main())
