"""python -m kernel.apps.swarm --engines N: N engines of one controller in this one process.

For trying a controller at scale where memory would not hold a process per
engine (``kernel.engine.swarm`` says what the engines share). It finds the
engine FURL as ``ipengine`` does, logs to ``DIR/log/swarm-<pid>.log``, and
runs until every engine has left (``kill``, or no controller for
``controller_timeout``) or it gets SIGINT or SIGTERM.
"""

import sys

from kernel import paths
from kernel.apps import common
from kernel.apps.ipengine import furl_source, wait_for_furl
from kernel.settings import EngineSettings

FILES_SPARE = 64  # files the process needs beside its engines' connections


def build_parser():
    p = common.Parser(prog="swarm", description="Run many engines of one controller in one process.")
    common.add_common(p)
    p.add_argument("--engines", type=common.whole_number(1), required=True, metavar="N", help="how many engines")
    p.add_argument("--furl-file", metavar="F", help="engine FURL file (default: DIR/security/ipcontroller-engine.furl)")
    return p


def _main(argv, stdout, stderr):
    args = build_parser().parse_args(argv)
    base = paths.ipython_dir(args.ipythondir)
    path = args.furl_file or str(paths.security_dir(base) / paths.ENGINE_FURL)
    limit = common.raise_file_limit()
    if limit < args.engines + FILES_SPARE:
        print(f"swarm: {args.engines} engines need {args.engines + FILES_SPARE} open files, over this "
              f"process's limit of {limit} (ulimit -Hn)", file=stderr)
        return 2
    from twisted.internet import reactor

    from kernel.engine.swarm import Swarm

    source = furl_source(wait_for_furl(path, EngineSettings.furl_wait), path)
    log_file = common.log_path("swarm", base, args.logfile)
    common.start_logging(log_file, base, reactor)
    swarm = Swarm(reactor, source, args.engines)
    swarm.on_done = reactor.stop  # SIGINT and SIGTERM stop the reactor, and every connection with it
    reactor.callWhenRunning(swarm.start)
    print(f"swarm: {args.engines} engines connecting to {path}; log in {log_file}", file=stdout)
    stdout.flush()
    reactor.run()
    return 0


def main(argv=None, stdout=None, stderr=None):
    return common.run_main(_main, sys.argv[1:] if argv is None else argv, stdout, stderr)


if __name__ == "__main__":
    sys.exit(main())
