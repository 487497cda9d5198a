"""Local engines forked by one fork server (``ipengine --fork-server``) instead of started one program each.

The server imports an engine's modules once; each engine forked from it
starts in milliseconds and shares that memory with its siblings
(``kernel.apps.forkserver``). An engine so started is a ``ForkedProcess``:
the part of ``subprocess.Popen`` the launchers and the supervisor use (pid,
poll, wait, returncode), its exit reported by the server, whose child it is.
"""

import json
import os
import signal
import subprocess
import threading

from kernel.launchers import process
from kernel.launchers.base import LaunchError
from kernel.proctable import pid_alive
from kernel.settings import ClusterSettings

REPLY_TIMEOUT = 60.0  # seconds the server may take to import and fork
LOST = -signal.SIGKILL  # the returncode of an engine found gone after its server was


class ForkedProcess:
    """An engine the fork server forked."""

    def __init__(self, pid, server):
        self.pid = pid
        self.server = server
        self.returncode = None
        self._ended = threading.Event()

    def ended(self, code):
        self.returncode = code
        self._ended.set()

    def poll(self):
        if self.returncode is None and self.server.lost and not pid_alive(self.pid):
            self.ended(LOST)  # nobody is left to tell its exit code
        return self.returncode

    def wait(self, timeout=None):
        if not self._ended.wait(timeout) and self.poll() is None:
            raise subprocess.TimeoutExpired(f"engine {self.pid}", timeout)
        return self.returncode

    def send_signal(self, sig):
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """The fork server of one engine set: started with the engines' options, asked for engines by slot."""

    def __init__(self, context):
        self.context = context
        self.output = context.output_file("forkserver")
        argv = [*context.engine_cmd, "--fork-server", *context.engine_options()]
        try:
            self.proc = process.spawn(argv, self.output, env=context.env, pipes=True,
                                      die_with_parent=context.die_with_parent)
        except OSError as e:
            raise LaunchError(f"cannot run {argv[0]}: {e}") from None
        self.lost = False  # the server has gone: engines can no longer be forked, nor their exits heard
        self._lock = threading.Lock()  # one request written at a time
        self._replies = {}  # slot -> reply, until taken
        self._engines = {}  # pid -> ForkedProcess
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="fork-server", daemon=True)
        self._reader.start()

    def spawn(self, slots, outputs):
        """Fork an engine for each slot (its output to the file of the same index); their ForkedProcesses."""
        with self._lock:
            try:
                for slot, output in zip(slots, outputs):
                    request = {"spawn": slot, "output": str(output), "die_with_parent": self.context.die_with_parent}
                    self.proc.stdin.write(json.dumps(request).encode() + b"\n")
                self.proc.stdin.flush()
            except OSError:
                pass  # it died: said below
        return [self._reply(slot) for slot in slots]

    def _reply(self, slot):
        with self._changed:
            if not self._changed.wait_for(lambda: slot in self._replies or self.lost, REPLY_TIMEOUT):
                raise LaunchError(f"the engines' fork server (pid {self.proc.pid}) did not fork engine {slot} "
                                  f"within {REPLY_TIMEOUT:g} s")
            reply = self._replies.pop(slot, None)
        if reply is None:
            raise LaunchError(f"the engines' fork server (pid {self.proc.pid}) "
                              f"{self._why_gone()}\n{self.report()}")
        if "failed" in reply:
            raise LaunchError(f"the engines' fork server could not start engine {slot}: {reply['error']}")
        return self._engines[reply["pid"]]

    def _why_gone(self):
        try:
            code = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            return "stopped answering"
        return f"exited with code {code}"

    def _read(self):
        for line in self.proc.stdout:
            event = json.loads(line)
            with self._changed:
                if "exited" in event:
                    engine = self._engines.get(event["exited"])
                    if engine is not None:
                        engine.ended(event["code"])
                    continue
                if "spawned" in event:
                    self._engines[event["pid"]] = ForkedProcess(event["pid"], self)
                self._replies[event.get("spawned", event.get("failed"))] = event
                self._changed.notify_all()
        with self._changed:
            self.lost = True
            self._changed.notify_all()

    def report(self):
        return process.tail_report("engine fork server output", [self.output])

    def stop(self, timeout=ClusterSettings.stop_timeout):
        """End the server (its stdin closed, it exits); its engines are the launcher's to stop, first."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        process.terminate([self.proc], timeout)
        self._reader.join(timeout)
