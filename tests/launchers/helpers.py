"""Running ipcluster as a real program in tests, and finding what it left behind.

Every process a test starts carries the test's temporary directory on its
command line (``--ipythondir``, ``--furl-file``), so ``processes_using(dir)``
finds them all, wherever they were started from (ssh, mpiexec, a batch job).
"""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import wait_for

BIN = Path(sys.executable).parent
READY = "stop with Ctrl-C"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_using(marker):
    """[(pid, cmdline)] of live processes whose command line mentions ``marker``."""
    marker = str(marker).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if marker in cmdline:
            found.append((int(entry), cmdline.replace(b"\0", b" ").decode("utf-8", "replace").strip()))
    return found


def parent_of(pid):
    """The parent pid of ``pid``, or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[1])


def engine_processes(marker):
    """The ipengine processes among ``processes_using(marker)``.

    Engines forked by a fork server (``ipengine --fork-server``) share its
    command line; the server is the one whose parent is no fork server.
    """
    found = dict((pid, cmd) for pid, cmd in processes_using(marker)
                 if any(w.endswith("/ipengine") or w == "ipengine" for w in cmd.split()[:2]))
    return [(pid, cmd) for pid, cmd in found.items()
            if "--fork-server" not in cmd.split() or "--fork-server" in found.get(parent_of(pid), "").split()]


def kill_processes_using(marker):
    """Last-resort cleanup: SIGKILL whatever still mentions ``marker``."""
    for pid, _ in processes_using(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    wait_for(lambda: not processes_using(marker), 10, what=f"processes using {marker} to die")


class IPCluster:
    """One ``ipcluster`` run: a child process whose output goes to a file."""

    def __init__(self, args, out, env=None):
        self.out = Path(out)
        self.args = [str(a) for a in args]
        self._file = open(self.out, "wb")
        full_env = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([str(BIN / "ipcluster"), *self.args], stdin=subprocess.DEVNULL,
                                     stdout=self._file, stderr=subprocess.STDOUT, env=full_env)

    @property
    def output(self):
        return self.out.read_text(errors="replace")

    def wait_for_text(self, text, timeout=90):
        def seen():
            if text in self.output:
                return True
            if self.proc.poll() is not None:
                raise AssertionError(f"ipcluster exited with {self.proc.returncode} before printing "
                                     f"{text!r}:\n{self.output}")
            return False

        try:
            wait_for(seen, timeout, what=f"ipcluster to print {text!r}")
        except TimeoutError as e:
            raise AssertionError(f"{e}; output so far:\n{self.output}") from None

    def wait_ready(self, timeout=90):
        self.wait_for_text(READY, timeout)

    def wait(self, timeout=60):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"ipcluster did not exit within {timeout} s:\n{self.output}") from None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._file.close()


def run_ipcluster(args, timeout=60, env=None):
    """Run an ipcluster command to completion; return (exit code, output)."""
    full_env = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1")
    done = subprocess.run([str(BIN / "ipcluster"), *map(str, args)], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, env=full_env)
    return done.returncode, done.stdout + done.stderr


def mec_for(directory):
    from kernel import client

    return client.MultiEngineClient(str(Path(directory) / "security" / "ipcontroller-mec.furl"))


def do_work(mec, n):
    """Every engine computes something of its own; return the ids."""
    ids = mec.get_ids()
    assert len(ids) == n, ids
    mec.execute("import os\nsquare = id * id\npid = os.getpid()")
    assert mec.pull("square") == [i * i for i in ids]
    assert len(set(mec.pull("pid"))) == n
    mec.push({"base": 10})
    mec.execute("total = base + square")
    assert mec.pull("total") == [10 + i * i for i in ids]
    return ids


@pytest.fixture
def launch(tmp_path):
    """``launch(*args, env=None)`` starts ipcluster; everything it started is killed afterwards."""
    runs = []

    def start(*args, env=None):
        run = IPCluster(args, tmp_path / f"ipcluster-{len(runs)}.out", env)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.kill()
    kill_processes_using(tmp_path)
