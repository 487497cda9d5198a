"""Throwaway "hosts" for tests: network namespaces joined by a bridge on this machine.

Host k lives in namespace ``<prefix>h<k>`` with address 10.A.B.(k+1)/24 on its
``eth0``; this machine has 10.A.B.1 on the bridge. The /24 is picked at random
among those no local address or route uses, and the names carry a random
suffix, so two test runs at once do not collide. There is no forwarding and
no NAT: nothing sent to these addresses leaves the machine. ``down()`` kills
whatever still runs inside the namespaces and removes them and the bridge.
"""

import ipaddress
import os
import random
import shutil
import subprocess


def available():
    """None if namespaces can be made here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 is not installed"
    return None


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=check)


def _used_networks():
    used = []
    for line in _ip("-o", "-4", "addr", "show").stdout.splitlines() + _ip("-4", "route", "show").stdout.splitlines():
        for word in line.split():
            try:
                used.append(ipaddress.ip_network(word, strict=False))
            except ValueError:
                pass
    return used


class Hosts:
    def __init__(self, count):
        self.count = count
        suffix = f"{random.randrange(16 ** 6):06x}"
        self.prefix = f"k{suffix}"
        self.bridge = f"k{suffix}br"
        self.namespaces = [f"k{suffix}h{k}" for k in range(1, count + 1)]
        used = _used_networks()
        for _ in range(100):
            net = ipaddress.ip_network(f"10.{random.randrange(100, 250)}.{random.randrange(1, 250)}.0/24")
            if not any(net.overlaps(u) for u in used if u.prefixlen > 0):
                break
        else:
            raise RuntimeError("no free 10.x.y.0/24 for the test hosts")
        self.network = net
        hosts = list(net.hosts())
        self.gateway = str(hosts[0])
        self.addresses = [str(hosts[k]) for k in range(1, count + 1)]

    def up(self):
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for k, (ns, address) in enumerate(zip(self.namespaces, self.addresses), 1):
                veth = f"{self.prefix}v{k}"
                _ip("netns", "add", ns)
                _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
                _ip("link", "set", veth, "master", self.bridge, "up")
                _ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except subprocess.CalledProcessError as e:
            self.down()
            raise RuntimeError(f"cannot make network namespaces: {' '.join(e.cmd)}: {e.stderr.strip()}") from None
        return self

    def pids(self, ns):
        out = _ip("netns", "pids", ns, check=False).stdout
        return [int(w) for w in out.split() if w.isdigit()]

    def down(self):
        import signal
        import time

        for ns in self.namespaces:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                for pid in self.pids(ns):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
                deadline = time.monotonic() + 5
                while self.pids(ns) and time.monotonic() < deadline:
                    time.sleep(0.05)
            _ip("netns", "del", ns, check=False)
        _ip("link", "del", self.bridge, check=False)
