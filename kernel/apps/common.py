"""What the three programs share: flags, log files and the one-line error exit."""

import argparse
import os
import resource
import sys

from twisted.logger import (
    FileLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    FilteringLogObserver,
    formatEventAsClassicLogText,
    globalLogBeginner,
)

from kernel import config, paths, settings
from kernel.apps import logfiles

SECURITY_FLAG_WARNING = "warning: -x/-y are ignored: connections are always encrypted and authenticated"


class UsageError(Exception):
    """A bad flag value; main() prints it on one line and exits 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def add_common(parser):
    parser.add_argument("--ipythondir", metavar="DIR",
                        help="cluster directory (default: $IPYTHONDIR or ~/.ipython)")
    parser.add_argument("-l", "--logfile", metavar="PREFIX",
                        help="log to PREFIX<pid>.log instead of DIR/log/<program>-<pid>.log")


def add_legacy_security(parser):
    parser.add_argument("-x", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("-y", action="store_true", help=argparse.SUPPRESS)


def warn_legacy_security(args, stream):
    if getattr(args, "x", False) or getattr(args, "y", False):
        print(SECURITY_FLAG_WARNING, file=stream)


def port(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number, not {text!r}") from None
    if not 0 <= value < 65536:
        raise argparse.ArgumentTypeError(f"port {value} is out of range 0-65535")
    return value


def whole_number(minimum):
    """An argparse type: an int of at least ``minimum``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected at least {minimum}, not {value}")
        return value

    return parse


def _flag_type(setting):
    def parse(text):
        try:
            return setting.kind.parse(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {setting.kind.rule}, not {text!r}") from None

    return parse


def add_settings(parser, program):
    """The flags of the settings ``program`` takes (``kernel.settings``), and ``--show-config``.

    A flag not given is None, so that the file and the environment apply.
    """
    for setting in settings.taken_by(program):
        default = f"default: {setting.shown(setting.default)}"
        if setting.kind is settings.SWITCH:
            parser.add_argument(setting.flag, dest=setting.name, action="store_const", const=not setting.default,
                                help=f"{'do not ' if setting.default else ''}{setting.help}")
        elif setting.kind.choices:
            parser.add_argument(setting.flag, dest=setting.name, choices=setting.kind.choices,
                                help=f"{setting.help}; {default}")
        else:
            parser.add_argument(setting.flag, dest=setting.name, type=_flag_type(setting),
                                metavar=setting.kind.metavar, help=f"{setting.help}; {default}")
    if program in settings.SHOWN:
        parser.add_argument("--show-config", action="store_true",
                            help="print every setting, its value and where it came from, then exit")


def load_settings(args, program, ipythondir, prefix=None):
    """The section ``program`` reads, from defaults, DIR/kernel.toml, KERNEL_* and the flags in ``args``.

    A bad value is a UsageError (one line, exit 2) that starts with ``prefix`` (default: the program).
    """
    section = settings.READS[program]
    flags = {s.name: getattr(args, s.name) for s in settings.taken_by(program) if s.section == section}
    try:
        return config.load(ipythondir, section, flags)
    except config.ConfigError as e:
        raise UsageError(f"{prefix or program.split()[0]}: {e}") from None


def raise_file_limit():
    """Let this process open as many files as it may (each connection is one): the soft limit to the hard one.

    Returns the limit in force. 1,000 engines need more than the usual soft limit of 1,024.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass  # the limit in force stays
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def log_path(program, base, prefix=None):
    if prefix:
        return os.path.abspath(f"{prefix}{os.getpid()}.log")
    return str(paths.log_dir(base) / f"{program}-{os.getpid()}.log")


def start_logging(path, ipythondir, clock, level=LogLevel.info):
    """Send twisted.logger events to ``path``; return the file.

    The file rotates as ``[log]`` says (a bad value is a UsageError), and
    floods of one event are thinned (``logfiles.Throttle``, timed on ``clock``).
    """
    try:
        rotation = config.load(ipythondir, "log")
    except config.ConfigError as e:
        raise UsageError(str(e)) from None
    stream = logfiles.open_log(path, rotation.max_size, rotation.backups)
    observer = FilteringLogObserver(
        logfiles.Throttle(FileLogObserver(stream, formatEventAsClassicLogText), clock),
        [LogLevelFilterPredicate(defaultLogLevel=level)],
    )
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False, discardBuffer=True)
    return stream


def run_main(body, argv, stdout=None, stderr=None):
    """Call ``body(argv, stdout, stderr)``; turn UsageError into a one-line exit 2."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        return body(argv, stdout, stderr)
    except UsageError as e:
        print(str(e), file=stderr)
        return 2
