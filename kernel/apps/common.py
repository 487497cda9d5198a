"""What the three programs share: flags, log files and the one-line error exit."""

import argparse
import os
import sys

from twisted.logger import (
    FileLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    FilteringLogObserver,
    formatEventAsClassicLogText,
    globalLogBeginner,
)

from kernel import config, paths

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


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, not {text!r}")
    return value


def size(text):
    """An argparse type: bytes from ``500MB``, ``2GB``, ``1.5GiB`` or a number of bytes."""
    try:
        return config.parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size such as 500MB or 2GB (0: no limit), not {text!r}") from None


def log_path(program, base, prefix=None):
    if prefix:
        return os.path.abspath(f"{prefix}{os.getpid()}.log")
    return str(paths.log_dir(base) / f"{program}-{os.getpid()}.log")


def start_logging(path, level=LogLevel.info):
    """Send twisted.logger events to ``path``; return the open file."""
    stream = open(path, "a", encoding="utf-8", buffering=1)
    observer = FilteringLogObserver(
        FileLogObserver(stream, lambda event: formatEventAsClassicLogText(event)),
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
