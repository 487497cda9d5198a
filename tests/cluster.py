"""Real processes for integration tests: a controller and engines over TLS on loopback.

Everything started here is killed by pid in ``stop()``; the fixtures in
conftest.py call it as a finalizer. Waits poll a condition with a deadline,
never a fixed sleep.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kernel import paths

STARTUP_TIMEOUT = 30.0


def wait_for(condition, timeout=STARTUP_TIMEOUT, interval=0.02, what="condition"):
    """Poll ``condition()`` until it returns a truthy value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class Cluster:
    """A controller plus engines in ``directory``, driven as real processes."""

    def __init__(self, directory, controller_args=(), engine_args=()):
        self.dir = Path(directory)
        self.controller_args = list(controller_args)
        self.engine_args = list(engine_args)
        self.controller = None
        self.engines = []
        self.security = paths.security_dir(self.dir)
        self.logs = []

    @property
    def mec_furl(self):
        return str(self.security / paths.MEC_FURL)

    @property
    def tc_furl(self):
        return str(self.security / paths.TC_FURL)

    @property
    def engine_furl(self):
        return str(self.security / paths.ENGINE_FURL)

    def _spawn(self, program, args):
        log = open(self.dir / f"{program}-{len(self.logs)}.out", "w")
        self.logs.append(log)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        command = [sys.executable, "-m", f"kernel.apps.{program}"]
        return subprocess.Popen([*command, "--ipythondir", str(self.dir), *args],
                                stdout=log, stderr=subprocess.STDOUT, env=env)

    def start_controller(self, *extra):
        self.controller = self._spawn("ipcontroller", [*self.controller_args, *extra])
        index = len(self.logs) - 1
        # it prints its log path once every FURL file is written
        wait_for(lambda: "ipcontroller: log in" in self.output(index) or self._died(self.controller),
                 what="the controller's FURL files")
        if self.controller.poll() is not None:
            raise RuntimeError(f"ipcontroller exited with {self.controller.returncode}: {self.output(index)}")
        return self.controller

    def _died(self, process):
        return process.poll() is not None

    def start_engines(self, n, *extra, wait=True):
        started = [self._spawn("ipengine", [*self.engine_args, *extra]) for _ in range(n)]
        self.engines.extend(started)
        if wait:
            self.wait_for_engines(len([e for e in self.engines if e.poll() is None]))
        return started

    def client(self):
        from kernel import client

        return client.MultiEngineClient(self.mec_furl)

    def wait_for_engines(self, n, timeout=STARTUP_TIMEOUT):
        mec = self.client()
        try:
            wait_for(lambda: len(mec.get_ids()) == n, timeout, what=f"{n} engines to be registered")
            return mec.get_ids()
        finally:
            mec.close()

    def output(self, index):
        self.logs[index].flush()
        return Path(self.logs[index].name).read_text()

    def kill_controller(self, sig=signal.SIGKILL):
        if self.controller is not None and self.controller.poll() is None:
            self.controller.send_signal(sig)
            self.controller.wait(10)

    def stop(self):
        for process in [*self.engines, self.controller]:
            if process is not None and process.poll() is None:
                process.kill()
        for process in [*self.engines, self.controller]:
            if process is not None:
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    pass
        for log in self.logs:
            log.close()
