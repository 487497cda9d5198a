"""The controller, and engines as plain processes on this machine."""

from pathlib import Path

from kernel.launchers import process
from kernel.launchers.base import EngineSetLauncher, LaunchError
from kernel.launchers.forked import ForkServer
from kernel.launchers.supervisor import why
from kernel.settings import ClusterSettings


class ControllerLauncher:
    """``ipcontroller`` as a child process of this one."""

    def __init__(self, context, args=()):
        self.context = context
        self.argv = [
            *process.program("ipcontroller"),
            "--ipythondir", str(context.ipythondir),
            "-l", f"{context.logdir}/ipcontroller-",
            *args,
        ]
        self.proc = None
        self.output = context.output_file("controller")

    @property
    def pid(self):
        return None if self.proc is None else self.proc.pid

    @property
    def log_file(self):
        return None if self.proc is None else Path(self.context.logdir) / f"ipcontroller-{self.proc.pid}.log"

    def start(self):
        try:
            self.proc = process.spawn(self.argv, self.output, env=self.context.env,
                                      die_with_parent=self.context.die_with_parent)
        except OSError as e:
            raise LaunchError(f"cannot run {self.argv[0]}: {e}") from None
        return self.proc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def failure(self):
        if self.proc is not None and self.proc.poll() is not None:
            return f"the controller (pid {self.proc.pid}) exited with code {self.proc.returncode}"
        return None

    def report(self):
        return process.tail_report("controller output", [self.output, self.log_file] if self.proc else [])

    def stop(self, timeout=ClusterSettings.stop_timeout):
        if self.proc is not None:
            process.terminate([self.proc], timeout)


class LocalEngineSetLauncher(EngineSetLauncher):
    """``n`` ``ipengine`` processes on this machine.

    With ``context.fork_engines`` they are forked by one fork server
    (``forked``; the engine command must be ipengine's) rather than each
    started as a program: the same engines, started in a fraction of the
    time, sharing the memory of what they import. Should the server go,
    engines are started as programs again.
    """

    kind = "local"
    restartable = True

    def __init__(self, context, n):
        super().__init__(context, n)
        self.procs = []
        self.outputs = [context.output_file(f"engine{i}") for i in range(n)]
        self.forks = context.fork_engines
        self.server = None  # the fork server, once started

    def _spawn(self, slots):
        if self.forks and self.server is None:
            self.server = ForkServer(self.context)
        if self.forks and not self.server.lost:
            return self.server.spawn(slots, [self.outputs[slot] for slot in slots])
        try:
            return [process.spawn(self.context.engine_argv(), self.outputs[slot], env=self.context.env,
                                  die_with_parent=self.context.die_with_parent) for slot in slots]
        except OSError as e:
            raise LaunchError(f"cannot run {self.context.engine_cmd[0]}: {e}") from None

    def start(self):
        self.procs = self._spawn(range(self.n))

    def restart(self, slot):
        """Start the engine of ``slot`` again (its output file goes on); return its process."""
        [self.procs[slot]] = self._spawn([slot])
        return self.procs[slot]

    @property
    def pids(self):
        return [p.pid for p in self.procs]

    def exited(self):
        """[(slot, process)] of the engines that have exited."""
        return [(i, p) for i, p in enumerate(self.procs) if p.poll() is not None]

    def failure(self):
        exited = self.exited()
        if not exited:
            return None
        i, p = exited[0]
        more = f" (and {len(exited) - 1} more)" if len(exited) > 1 else ""
        return f"engine {i} (pid {p.pid}) {why(p.returncode)}{more}"

    def report(self):
        exited = self.exited()
        chosen = exited[:2] if exited else list(enumerate(self.procs))[:1]
        files = []
        for i, p in chosen:
            files += [self.outputs[i], Path(self.context.logdir) / f"ipengine-{p.pid}.log"]
        if self.server is not None:
            files.append(self.server.output)
        return process.tail_report("engine output", files)

    def stop(self, timeout=ClusterSettings.stop_timeout):
        process.terminate(self.procs, timeout)
        if self.server is not None:
            self.server.stop(timeout)

    def describe(self):
        if not self.procs:
            return f"{self.n} local engines"
        return f"{self.n} local engines (pids {' '.join(map(str, self.pids))})"
