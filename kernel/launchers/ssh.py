"""Engines on other hosts, started over ssh, as listed in a cluster file.

The cluster file is Python; it must set ``engines`` and may set the rest::

    engines = {"node1": 2, "node2": 4}      # host (as ssh knows it): engine count
    send_furl = True                          # copy the engine FURL to each host first
    ssh = "ssh"                               # the ssh command, e.g. "ssh -F ~/.ssh/cluster_config"
    engine_cmd = "ipengine"                   # ipengine as found on the remote hosts
    remote_ipythondir = None                  # engines' --ipythondir there (None: $IPYTHONDIR or ~/.ipython)
    engine_args = []                          # more ipengine flags

The engines run in the remote home directory, or in ``--work-dir`` there
(``~`` is the remote home). One ssh connection per host copies the FURL (written atomically, mode 0600,
into ``<remote dir>/security/``) and another starts that host's engines in the
background and prints their pids. Stopping sends SIGTERM to exactly those
pids, over ssh, and SIGKILL to any still running after the grace period.
"""

import runpy
import shlex
import subprocess
from pathlib import Path

from kernel.launchers.base import EngineSetLauncher, LaunchError, split_command
from kernel.settings import ClusterSettings
from kernel.values import is_int

SSH_OPTIONS = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
ENGINE_FURL_NAME = "ipcontroller-engine.furl"


class ClusterFile:
    def __init__(self, path):
        path = Path(path)
        if not path.is_file():
            raise LaunchError(f"no cluster file at {path} (it sets engines = {{'host': count, ...}})")
        try:
            ns = runpy.run_path(str(path))
        except Exception as e:  # the user's Python
            raise LaunchError(f"error in cluster file {path}: {type(e).__name__}: {e}") from None
        engines = ns.get("engines")
        if not isinstance(engines, dict) or not engines:
            raise LaunchError(f"{path} must set engines = {{'host': count, ...}}")
        for host, count in engines.items():
            if not isinstance(host, str) or not host or host.startswith("-"):
                raise LaunchError(f"{path}: bad host name {host!r}")
            if not is_int(count) or count < 1:
                raise LaunchError(f"{path}: engine count for {host!r} must be a positive int, not {count!r}")
        self.path = path
        self.engines = dict(engines)
        self.send_furl = bool(ns.get("send_furl", True))
        self.ssh = split_command(ns.get("ssh", "ssh"))
        self.engine_cmd = split_command(ns.get("engine_cmd", "ipengine"))
        self.remote_ipythondir = ns.get("remote_ipythondir")
        self.engine_args = split_command(ns.get("engine_args", []))


def _remote_path(value):
    """A shell word for a path on the remote host, where ``~`` is that host's home."""
    value = str(value)
    if value == "~":
        return '"$HOME"'
    if value.startswith("~/"):
        return '"$HOME"/' + shlex.quote(value[2:])
    return shlex.quote(value)


def _remote_dir(value):
    """Shell words that set D to the engines' directory on the remote host."""
    if not value:
        return 'D="${IPYTHONDIR:-$HOME/.ipython}"'
    return "D=" + _remote_path(value)


def _wrap(script):
    """One remote command that runs ``script`` with sh, whatever the login shell."""
    return "sh -c " + shlex.quote(script)


class SSHEngineSetLauncher(EngineSetLauncher):
    kind = "ssh"
    remote = True

    def __init__(self, context, n=None, clusterfile="clusterfile.py", ssh_timeout=30.0):
        self.clusterfile = ClusterFile(clusterfile)
        super().__init__(context, sum(self.clusterfile.engines.values()))
        self.ssh_timeout = ssh_timeout
        self.pids = {}  # host -> [pid, ...] of the engines started there
        self.output_name = f"ipcluster-{context.tag}-ssh.out"

    # -- ssh -------------------------------------------------------------------

    def _ssh_argv(self, host, script):
        return [*self.clusterfile.ssh, *SSH_OPTIONS, host, _wrap(script)]

    def _run_all(self, scripts, stdin=None, timeout=None):
        """Run one script per host, in parallel; {host: (returncode, stdout, stderr)}."""
        procs = {}
        for host, script in scripts.items():
            try:
                procs[host] = subprocess.Popen(
                    self._ssh_argv(host, script), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, env=self.context.env, start_new_session=True)
            except OSError as e:
                for p in procs.values():
                    p.kill()
                    p.wait()
                raise LaunchError(f"cannot run {self.clusterfile.ssh[0]}: {e}") from None
        results = {}
        for host, p in procs.items():
            try:
                out, err = p.communicate(stdin, timeout=timeout or self.ssh_timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
                err = (err or b"") + b"\n(ssh timed out)"
            results[host] = (p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
        return results

    # -- start and stop ------------------------------------------------------------

    def _engine_command(self):
        argv = [*self.clusterfile.engine_cmd]
        words = " ".join(shlex.quote(a) for a in argv)
        extra = " ".join(shlex.quote(a) for a in [*self.context.engine_args, *self.clusterfile.engine_args])
        if self.context.work_dir:
            extra = f"--work-dir {_remote_path(self.context.work_dir)} {extra}"
        return (f'{words} --ipythondir "$D" --furl-file "$D/security/{ENGINE_FURL_NAME}" '
                f'-l "$D/log/ipengine-" {extra}').rstrip()

    def start(self):
        cf = self.clusterfile
        setdir = _remote_dir(cf.remote_ipythondir)
        if cf.send_furl:
            furl = Path(self.context.engine_furl_file).read_bytes()
            tmp = f'"$D/security/.{ENGINE_FURL_NAME}.$$"'
            copy = (f'umask 077; {setdir}; mkdir -p "$D/security" && cat > {tmp} && '
                    f'mv -f {tmp} "$D/security/{ENGINE_FURL_NAME}"')
            failed = {h: r for h, r in self._run_all({h: copy for h in cf.engines}, stdin=furl).items() if r[0]}
            if failed:
                raise LaunchError("could not copy the engine FURL: " + self._errors(failed))
        command = self._engine_command()
        scripts = {}
        for host, count in cf.engines.items():
            one = f'nohup {command} </dev/null >>"$D/log/{self.output_name}" 2>&1 & echo $!'
            scripts[host] = f'{setdir}; mkdir -p "$D/log" || exit 1; ' + "; ".join([one] * count)
        results = self._run_all(scripts)
        failed = {}
        for host, (code, out, err) in results.items():
            pids = [int(w) for w in out.split() if w.isdigit()]
            if pids:
                self.pids[host] = pids
            if code or len(pids) != cf.engines[host]:
                failed[host] = (code, out, err)
        if failed:
            raise LaunchError("could not start engines over ssh: " + self._errors(failed))

    @staticmethod
    def _errors(failed):
        return "; ".join(f"{host}: exit {code}: {(err or out).strip()[-500:]}"
                         for host, (code, out, err) in failed.items())

    def stop(self, timeout=ClusterSettings.stop_timeout):
        if not self.pids:
            return
        steps = max(1, int(timeout * 10))
        scripts = {}
        for host, pids in self.pids.items():
            scripts[host] = (
                f"P='{' '.join(map(str, pids))}'; kill -TERM $P 2>/dev/null; i=0; "
                f"while [ $i -lt {steps} ]; do alive=''; "
                "for p in $P; do if kill -0 $p 2>/dev/null; then "
                'case "$(ps -o stat= -p $p 2>/dev/null)" in Z*) ;; *) alive="$alive $p";; esac; fi; done; '
                '[ -z "$alive" ] && exit 0; sleep 0.1; i=$((i+1)); done; '
                'kill -KILL $alive 2>/dev/null; echo "killed:$alive"'
            )
        results = self._run_all(scripts, timeout=timeout + self.ssh_timeout)
        failed = {h: r for h, r in results.items() if r[0]}
        self.pids = {h: p for h, p in self.pids.items() if h in failed}
        if failed:
            raise LaunchError("could not stop engines over ssh: " + self._errors(failed))

    def report(self):
        setdir = _remote_dir(self.clusterfile.remote_ipythondir)
        scripts = {}
        for host, pids in self.pids.items():
            files = [f'"$D/log/{self.output_name}"'] + [f'"$D/log/ipengine-{p}.log"' for p in pids[:2]]
            scripts[host] = setdir + "; " + "; ".join(
                f'if [ -s {f} ]; then echo "==> "{f}" <=="; tail -n 20 {f}; fi' for f in files)
        try:
            results = self._run_all(scripts, timeout=15)
        except LaunchError as e:
            return f"engine logs: {e}"
        parts = [f"[{host}]\n{(out + err).strip() or '(no output)'}" for host, (_, out, err) in results.items()]
        return "engine logs (over ssh):\n" + "\n".join(parts)

    def describe(self):
        hosts = ", ".join(f"{h}: {c}" for h, c in self.clusterfile.engines.items())
        if not self.pids:
            return f"{self.n} engines over ssh ({hosts})"
        pids = ", ".join(f"{h}: {' '.join(map(str, p))}" for h, p in self.pids.items())
        return f"{self.n} engines over ssh ({hosts}; pids {pids})"
