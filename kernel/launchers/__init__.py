"""Launchers: how a cluster's engines get started, one module per kind.

``ENGINE_LAUNCHERS`` maps the ipcluster subcommand to the launcher class
(imported on first use). The controller always runs on this machine
(``local.ControllerLauncher``).
"""

import importlib

from kernel.launchers.base import EngineSetLauncher, LaunchContext, LaunchError

ENGINE_LAUNCHERS = {
    "local": "kernel.launchers.local:LocalEngineSetLauncher",
    "mpiexec": "kernel.launchers.mpi:MPIExecEngineSetLauncher",
    "mpirun": "kernel.launchers.mpi:MPIRunEngineSetLauncher",
    "ssh": "kernel.launchers.ssh:SSHEngineSetLauncher",
    "slurm": "kernel.launchers.slurm:SlurmEngineSetLauncher",
    "pbs": "kernel.launchers.pbs:PBSEngineSetLauncher",
    "sge": "kernel.launchers.sge:SGEEngineSetLauncher",
    "lsf": "kernel.launchers.lsf:LSFEngineSetLauncher",
}


def engine_launcher(kind):
    """The engine-set launcher class for ``kind`` (a key of ENGINE_LAUNCHERS)."""
    try:
        module, _, name = ENGINE_LAUNCHERS[kind].partition(":")
    except KeyError:
        raise LaunchError(f"unknown launcher {kind!r}; choose from {', '.join(ENGINE_LAUNCHERS)}") from None
    return getattr(importlib.import_module(module), name)


__all__ = ["ENGINE_LAUNCHERS", "EngineSetLauncher", "LaunchContext", "LaunchError", "engine_launcher"]
