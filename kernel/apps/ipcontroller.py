"""ipcontroller: start the controller, write the FURL files, serve until stopped."""

import gc
import sys

from kernel import paths
from kernel.apps import common
from kernel.controller.service import ControllerConfig, ControllerService
from kernel.controller.tasks import TaskInterface
from kernel.controller.taskstore import StoreError

FILES_SPARE = 64  # open files the controller needs beside its connections: its store, logs, listeners


def build_parser():
    p = common.Parser(prog="ipcontroller", description="Start the cluster's controller.")
    common.add_common(p)
    p.add_argument("--client-ip", default="", metavar="IP", help="interface for clients (default: all)")
    p.add_argument("--client-port", type=common.port, default=0, metavar="N", help="port for clients (default: random)")
    p.add_argument("--client-location", default="", metavar="HOST", help="host name(s) written into client FURLs")
    p.add_argument("--engine-ip", default="", metavar="IP", help="interface for engines (default: all)")
    p.add_argument("--engine-port", type=common.port, default=0, metavar="N", help="port for engines (default: random)")
    p.add_argument("--engine-location", default="", metavar="HOST", help="host name(s) written into the engine FURL")
    p.add_argument("--engine-furl-file", metavar="F")
    p.add_argument("--multiengine-furl-file", metavar="F")
    p.add_argument("--task-furl-file", metavar="F")
    p.add_argument("--engine-cert-file", metavar="F")
    p.add_argument("--client-cert-file", metavar="F")
    p.add_argument("-r", dest="reuse_furls", action="store_true",
                   help="keep the key and swissnums of existing FURL files")
    p.add_argument("--reset-db", action="store_true",
                   help="start with an empty task store (DIR/db/tasks.sqlite), dropping its tasks and results")
    common.add_settings(p, "ipcontroller")
    common.add_legacy_security(p)
    return p


def config_from(args, ipythondir, settings):
    return ControllerConfig(
        **vars(settings.values), ipythondir=ipythondir,
        client_ip=args.client_ip, client_port=args.client_port, client_location=args.client_location,
        engine_ip=args.engine_ip, engine_port=args.engine_port, engine_location=args.engine_location,
        engine_furl_file=args.engine_furl_file, multiengine_furl_file=args.multiengine_furl_file,
        task_furl_file=args.task_furl_file, engine_cert_file=args.engine_cert_file,
        client_cert_file=args.client_cert_file, reuse_furls=args.reuse_furls, reset_db=args.reset_db,
    )


def _main(argv, stdout, stderr):
    args = build_parser().parse_args(argv)
    common.warn_legacy_security(args, stderr)
    if args.reuse_furls and not (args.client_port and args.engine_port):
        print("ipcontroller: note: -r keeps FURLs valid across restarts only with fixed "
              "--client-port and --engine-port", file=stderr)
    ipythondir = paths.ipython_dir(args.ipythondir)
    settings = common.load_settings(args, "ipcontroller", ipythondir)
    if args.show_config:
        print("\n".join(settings.show()), file=stdout)
        return 0
    controller_config = config_from(args, ipythondir, settings)
    files = common.raise_file_limit()  # an engine or a client is a connection
    from twisted.internet import reactor
    from twisted.internet.error import CannotListenError

    log_file = common.log_path("ipcontroller", ipythondir, args.logfile)
    common.start_logging(log_file, ipythondir, reactor)
    try:
        service = ControllerService(reactor, controller_config, TaskInterface.for_controller)
    except StoreError as e:
        print(f"ipcontroller: {e}", file=stderr)
        return 1
    try:
        service.startService()
    except (OSError, CannotListenError) as e:
        print(f"ipcontroller: cannot listen: {e}", file=stderr)
        return 1
    for name, (furl, path) in service.furls.items():
        print(f"ipcontroller: {name} FURL in {path}", file=stdout)
    admission = service.admission
    print(f"ipcontroller: may hold {files - FILES_SPARE} connections (open files: ulimit -n {files}), "
          f"at most {admission.most or 'any number'} of them not yet authenticated and "
          f"{admission.per_peer or 'any number'} per address past {admission.grace:g} s", file=stdout)
    if controller_config.relays:
        print(f"ipcontroller: {controller_config.relays} relay processes serve the engine port and hold the "
              "engines' connections, each with as many open files", file=stdout)
    print(f"ipcontroller: log in {log_file}", file=stdout)
    stdout.flush()
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    gc.freeze()  # start-up's 43,000 objects: each full collection walked them all, 15 ms a time
    reactor.run()
    return 0


def main(argv=None, stdout=None, stderr=None):
    return common.run_main(_main, sys.argv[1:] if argv is None else argv, stdout, stderr)


if __name__ == "__main__":
    sys.exit(main())
