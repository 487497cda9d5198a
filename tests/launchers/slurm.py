"""A throwaway single-node Slurm for tests: munged, slurmctld and slurmd in the foreground.

Everything lives under one directory (configuration, munge key and socket,
state, spool, logs); the daemons listen on free ports picked at start and are
only ever contacted on 127.0.0.1. Use the cluster with ``env`` (it sets
SLURM_CONF). ``stop()`` cancels the jobs and stops exactly the three daemons
it started.
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.harness import wait_for
from tests.launchers.helpers import free_port

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")


def _find(name):
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")


def available():
    if os.geteuid() != 0:
        return "the test Slurm runs its daemons as root"
    missing = [d for d in DAEMONS if _find(d) is None]
    if missing:
        return f"{', '.join(missing)} not installed (apt-get install slurm-wlm munge)"
    return None


class SlurmCluster:
    def __init__(self, base, cpus=4):
        self.base = Path(base)
        self.cpus = cpus
        self.host = socket.gethostname().split(".")[0]
        self.procs = {}
        self.conf = self.base / "slurm.conf"
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))

    def _write(self):
        b = self.base
        munge = b / "munge"
        for sub in ("state", f"spool/{self.host}", "log"):
            (b / sub).mkdir(parents=True, exist_ok=True)
        munge.mkdir(parents=True, exist_ok=True)
        munge.chmod(0o755)  # munged insists that its socket directory is o+x
        key = munge / "munge.key"
        if not key.exists():
            key.write_bytes(secrets.token_bytes(1024))
            key.chmod(0o400)
        self.conf.write_text(f"""\
ClusterName=kerneltest
SlurmctldHost={self.host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge}/munge.socket
StateSaveLocation={b}/state
SlurmdSpoolDir={b}/spool/%n
SlurmctldPidFile={b}/slurmctld.pid
SlurmdPidFile={b}/slurmd.pid
SlurmctldLogFile={b}/log/slurmctld.log
SlurmdLogFile={b}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmdParameters=config_overrides
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=sched_min_interval=0,batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=300
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")

    def _spawn(self, name, argv):
        with open(self.base / "log" / f"{name}.out", "ab") as out:
            self.procs[name] = subprocess.Popen([_find(argv[0]), *argv[1:]], stdin=subprocess.DEVNULL,
                                                stdout=out, stderr=subprocess.STDOUT, env=self.env)

    def _check_alive(self):
        for name, p in self.procs.items():
            if p.poll() is not None:
                logs = "\n".join(f"--- {f}\n{f.read_text(errors='replace')[-2000:]}"
                                 for f in sorted((self.base / "log").glob("*")) if f.is_file())
                raise RuntimeError(f"{name} exited with {p.returncode}\n{logs}")

    def run(self, *argv, timeout=30):
        return subprocess.run([_find(argv[0]), *argv[1:]], capture_output=True, text=True,
                              env=self.env, timeout=timeout)

    def node_state(self):
        self._check_alive()
        return self.run("sinfo", "-h", "-n", self.host, "-o", "%T").stdout.strip()

    def start(self):
        self._write()
        munge = self.base / "munge"
        self._spawn("munged", ["munged", "--foreground", "--force", f"--key-file={munge}/munge.key",
                               f"--socket={munge}/munge.socket", f"--pid-file={munge}/munged.pid",
                               f"--log-file={munge}/munged.log", f"--seed-file={munge}/munged.seed"])
        wait_for(lambda: (self._check_alive(), (munge / "munge.socket").exists())[1], 30,
                 what="munged's socket")
        self._spawn("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
        self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf)])
        wait_for(lambda: self.node_state() == "idle", 60, interval=0.2, what="the Slurm node to be idle")
        return self

    def jobs(self):
        return self.run("squeue", "-h", "-o", "%i %T").stdout.split("\n") if self.procs else []

    def stop(self):
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            self.run("scancel", "--full", f"--user={os.getuid()}")
            deadline = time.monotonic() + 20
            while self.run("squeue", "-h").stdout.strip() and time.monotonic() < deadline:
                time.sleep(0.2)
        for name in ("slurmd", "slurmctld", "munged"):
            p = self.procs.get(name)
            if p is None or p.poll() is not None:
                continue
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
