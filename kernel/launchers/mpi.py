"""Engines started by ``mpiexec``/``mpirun``: one engine per MPI rank.

With ``mpi="mpi4py"`` each engine initialises MPI through mpi4py, asks the
controller for its rank as its id, and has ``mpi`` (mpi4py's ``MPI`` module,
with ``.rank`` and ``.size``) in its namespace.
"""

import shutil

from kernel.launchers import process
from kernel.launchers.base import EngineSetLauncher, LaunchError, split_command
from kernel.settings import ClusterSettings


class MPIExecEngineSetLauncher(EngineSetLauncher):
    kind = "mpiexec"
    command = "mpiexec"

    def __init__(self, context, n, mpi=None, mpi_args=(), mpi_cmd=None):
        super().__init__(context, n)
        self.mpi = mpi or None
        self.mpi_cmd = split_command(mpi_cmd) or [self.command]
        self.mpi_args = split_command(mpi_args) or []
        self.proc = None
        self.output = context.output_file(self.kind)

    def argv(self):
        extra = ["--mpi", self.mpi] if self.mpi else []
        return [*self.mpi_cmd, "-n", str(self.n), *self.mpi_args, *self.context.engine_argv(extra=extra)]

    def start(self):
        if shutil.which(self.mpi_cmd[0], path=self.context.env.get("PATH")) is None:
            raise LaunchError(f"{self.mpi_cmd[0]} not found on PATH: install an MPI "
                              "(Debian: apt-get install openmpi-bin) or give its path")
        try:
            self.proc = process.spawn(self.argv(), self.output, env=self.context.env,
                                      die_with_parent=self.context.die_with_parent)
        except OSError as e:
            raise LaunchError(f"cannot run {self.mpi_cmd[0]}: {e}") from None

    def failure(self):
        if self.proc is not None and self.proc.poll() is not None:
            return f"{self.mpi_cmd[0]} (pid {self.proc.pid}) exited with code {self.proc.returncode}"
        return None

    def report(self):
        return process.tail_report(f"{self.kind} output",
                                   [self.output, *self.context.recent_engine_logs()])

    def stop(self, timeout=ClusterSettings.stop_timeout):
        if self.proc is not None:
            process.terminate([self.proc], timeout)

    def describe(self):
        pid = "" if self.proc is None else f" (pid {self.proc.pid})"
        return f"{self.n} engines under {self.mpi_cmd[0]}{pid}"


class MPIRunEngineSetLauncher(MPIExecEngineSetLauncher):
    kind = "mpirun"
    command = "mpirun"
