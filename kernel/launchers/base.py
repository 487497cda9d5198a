"""What every launcher shares: the run's directories and the engine command line.

A cluster is one controller plus one *engine set*. The controller always runs
on this machine (``local.ControllerLauncher``); the engine set is started by
one of the launchers in this package: local processes, ``mpiexec``, ``ssh``,
or a batch system's job array.
"""

import os
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

from kernel.launchers import process
from kernel.settings import ClusterSettings


class LaunchError(Exception):
    """A launcher could not start what it was asked to, or it died on the way."""


@dataclass
class LaunchContext:
    """Where a cluster lives and how its engines are started."""

    ipythondir: Path
    logdir: Path
    engine_furl_file: Path
    env: dict = field(default_factory=lambda: dict(os.environ))
    engine_cmd: list = field(default_factory=lambda: process.program("ipengine"))
    engine_args: list = field(default_factory=list)
    work_dir: str = None  # the engines' --work-dir (None: where they start)
    die_with_parent: bool = False
    fork_engines: bool = False  # local engines forked by a fork server (forked.py); engine_cmd must be ipengine's
    tag: str = field(default_factory=lambda: str(os.getpid()))
    started: float = field(default_factory=time.time)

    def output_file(self, what):
        """Where the stdout/stderr of one child goes: LOGDIR/ipcluster-<tag>-<what>.out."""
        return Path(self.logdir) / f"ipcluster-{self.tag}-{what}.out"

    def engine_argv(self, furl_file=None, ipythondir=None, logdir=None, extra=()):
        """``ipengine`` with this cluster's directory, FURL file, log prefix and work directory."""
        return [*self.engine_cmd, *self.engine_options(furl_file, ipythondir, logdir, extra)]

    def engine_options(self, furl_file=None, ipythondir=None, logdir=None, extra=()):
        """``engine_argv`` without the command."""
        return [
            "--ipythondir", str(ipythondir or self.ipythondir),
            "--furl-file", str(furl_file or self.engine_furl_file),
            "-l", f"{logdir or self.logdir}/ipengine-",
            *(["--work-dir", str(self.work_dir)] if self.work_dir else []),
            *self.engine_args, *extra,
        ]

    def recent_engine_logs(self, limit=3):
        """Engine log files in LOGDIR written since this cluster started (newest first)."""
        found = []
        for path in Path(self.logdir).glob("ipengine-*.log"):
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            if mtime >= self.started - 1:
                found.append((mtime, path))
        return [p for _, p in sorted(found, reverse=True)[:limit]]


def split_command(value):
    """A command given as a string (shell words) or a list."""
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


class EngineSetLauncher:
    """Starts ``n`` engines somewhere and can stop exactly those engines.

    Subclasses implement ``start()``, ``stop(timeout)``, and may implement
    ``failure()`` (a reason why the engines can no longer all register, or
    None) and ``report()`` (log tails for an error message).
    """

    kind = "engines"
    remote = False  # True: the engines run on other hosts, and --work-dir names a directory there
    restartable = False  # True: has exited() and restart(slot), for launchers.supervisor

    def __init__(self, context, n):
        if n < 1:
            raise LaunchError(f"need at least one engine, not {n}")
        self.context = context
        self.n = n

    def start(self):
        raise NotImplementedError

    def stop(self, timeout=ClusterSettings.stop_timeout):
        raise NotImplementedError

    def failure(self):
        return None

    def report(self):
        return process.tail_report("engine logs", self.context.recent_engine_logs())

    def describe(self):
        return f"{self.n} engines"
