"""A throwaway OpenSSH server for tests: its own host key, its own authorized key.

It listens on one address (127.0.0.1 by default, or an address inside a
network namespace) on a port picked by the test, runs in the foreground as a
child of the test (``sshd -D``), and reads nothing from /etc/ssh. The only
path outside the test's directory it needs is sshd's privilege-separation
directory /run/sshd, which the openssh-server package normally creates.
"""

import os
import pwd
import shutil
import subprocess
from pathlib import Path

from tests.harness import wait_for

SSHD = "/usr/sbin/sshd"


def available():
    """None if a test sshd can run here, else the reason it cannot."""
    if not os.path.exists(SSHD):
        return "openssh-server is not installed (apt-get install openssh-server)"
    for tool in ("ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install openssh-client)"
    return None


def keygen(path, comment):
    if not Path(path).exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                       check=True, capture_output=True, timeout=30)
    return Path(path)


def client_config(user_key, port, hostname=None):
    """ssh_config text: key login as this user, no host key checks, nothing written to ~/.ssh."""
    return "\n".join([
        "Host *",
        *([f"  HostName {hostname}"] if hostname else []),
        f"  Port {port}",
        f"  User {pwd.getpwuid(os.getuid()).pw_name}",
        f"  IdentityFile {user_key}",
        "  IdentitiesOnly yes",
        "  StrictHostKeyChecking no",
        "  UserKnownHostsFile /dev/null",
        "  BatchMode yes",
        "  LogLevel ERROR",
        "",
    ])


class SSHServer:
    def __init__(self, base, address="127.0.0.1", port=None, netns=None, user_key=None, alias_all=True):
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o700)
        self.address = address
        self.port = port
        self.netns = netns
        self.user_key = Path(user_key) if user_key else self.base / "user_ed25519"
        self.proc = None
        self.log = self.base / "sshd.log"
        self.alias_all = alias_all  # the client config sends every host name to this server

    def start(self):
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        host_key = keygen(self.base / "host_ed25519", "throwaway-host")
        keygen(self.user_key, "throwaway-user")
        authorized = self.base / "authorized_keys"
        authorized.write_text(Path(f"{self.user_key}.pub").read_text())
        authorized.chmod(0o600)
        if self.port is None:
            from tests.launchers.helpers import free_port

            self.port = free_port()
        config = self.base / "sshd_config"
        config.write_text(f"""\
Port {self.port}
ListenAddress {self.address}
HostKey {host_key}
PidFile none
AuthorizedKeysFile {authorized}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
PermitUserEnvironment no
LogLevel VERBOSE
""")
        argv = [SSHD, "-D", "-e", "-f", str(config)]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        subprocess.run([*argv[:-3], "-t", "-f", str(config)], check=True, capture_output=True, timeout=30)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.client_config = self.base / "ssh_config"
        self.client_config.write_text(client_config(self.user_key, self.port,
                                                    self.address if self.alias_all else None))
        wait_for(self._answers, 30, interval=0.1, what=f"sshd on {self.address}:{self.port}")
        return self

    def ssh_command(self):
        return ["ssh", "-F", str(self.client_config)]

    def _answers(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"sshd exited with {self.proc.returncode}: {self.log.read_text()}")
        host = "anyhost" if self.alias_all else self.address
        done = subprocess.run([*self.ssh_command(), host, "true"], capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=30)
        return done.returncode == 0

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
