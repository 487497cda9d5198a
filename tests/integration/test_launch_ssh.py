"""ipcluster ssh against real sshd servers: one on loopback, and one per network namespace.

The loopback server answers for every host name (node1, node2 are aliases),
so the engines it starts run on this machine under sshd. In the namespace
test each "host" is its own network namespace with its own sshd and address,
and the engines reach the controller across a bridge.
"""

import os
import signal
import subprocess
import sys

import pytest

from tests.launchers import netns, sshd
from tests.launchers.helpers import (
    BIN,
    do_work,
    engine_processes,
    kill_processes_using,
    launch,  # noqa: F401 (fixture)
    mec_for,
    processes_using,
    run_ipcluster,
)

pytestmark = pytest.mark.skipif(sshd.available() is not None, reason=str(sshd.available()))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("sshd")
    s = sshd.SSHServer(base / "server")
    s.start()
    yield s
    s.stop()
    kill_processes_using(base)


def write_clusterfile(path, engines, ssh, remote_dir, **more):
    lines = [f"engines = {engines!r}",
             f"ssh = {' '.join(ssh)!r}",
             f"engine_cmd = {str(BIN / 'ipengine')!r}",
             f"remote_ipythondir = {str(remote_dir)!r}"]
    lines += [f"{k} = {v!r}" for k, v in more.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ipcluster_ssh_starts_engines_over_ssh_and_stops_exactly_those(server, launch, tmp_path):
    d, remote = tmp_path / "d", tmp_path / "remote"
    clusterfile = write_clusterfile(tmp_path / "clusterfile.py", {"node1": 2, "node2": 1},
                                    server.ssh_command(), remote)
    # not ours, but an ipengine by name in the same remote directory: it must survive the stop
    bystander = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()", "ipengine",
                                  "--ipythondir", str(remote)], stdin=subprocess.PIPE)
    try:
        run = launch("ssh", "--clusterfile", clusterfile, "--ipythondir", d)
        run.wait_ready()
        assert "3 engines registered" in run.output
        assert "node1: 2, node2: 1" in run.output
        copied = remote / "security" / "ipcontroller-engine.furl"
        assert copied.read_text() == (d / "security" / "ipcontroller-engine.furl").read_text()
        assert copied.stat().st_mode & 0o777 == 0o600
        engines = engine_processes(remote)
        assert len(engines) == 3
        # started by sshd, not by ipcluster: no engine is a child of ipcluster
        for pid, _ in engines:
            with open(f"/proc/{pid}/stat") as f:
                assert int(f.read().rsplit(")", 1)[1].split()[1]) != run.proc.pid
        assert do_work(mec_for(d), 3) == [0, 1, 2]
        run.signal(signal.SIGINT)
        assert run.wait() == 0
        assert engine_processes(remote) == []
        assert processes_using(d) == []
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_unreachable_host_fails_with_the_ssh_error(server, launch, tmp_path):
    d, remote = tmp_path / "d", tmp_path / "remote"
    ssh = [*server.ssh_command(), "-o", "Port=1"]  # nothing listens there
    clusterfile = write_clusterfile(tmp_path / "clusterfile.py", {"node1": 1}, ssh, remote)
    run = launch("ssh", "--clusterfile", clusterfile, "--ipythondir", d)
    assert run.wait() == 1
    out = run.output
    assert "could not copy the engine FURL" in out and "node1" in out
    assert processes_using(d) == [] and engine_processes(remote) == []


def test_ipcluster_stop_stops_ssh_engines_given_no_send_furl(server, launch, tmp_path):
    """With send_furl = False the engines read the FURL where it already is (a shared directory)."""
    d = tmp_path / "d"
    clusterfile = write_clusterfile(tmp_path / "clusterfile.py", {"node1": 2}, server.ssh_command(), d,
                                    send_furl=False)
    run = launch("ssh", "--clusterfile", clusterfile, "--ipythondir", d)
    run.wait_ready()
    assert do_work(mec_for(d), 2) == [0, 1]
    code, out = run_ipcluster(["stop", "--ipythondir", d])
    assert code == 0, out
    assert run.wait() == 0
    assert processes_using(d) == []


@pytest.fixture(scope="module")
def namespace_hosts(tmp_path_factory):
    reason = netns.available()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("netns")
    hosts = netns.Hosts(2)
    try:
        hosts.up()
    except RuntimeError as e:
        pytest.skip(str(e))
    servers = []
    try:
        key = sshd.keygen(base / "user_ed25519", "throwaway-user")
        for ns, address in zip(hosts.namespaces, hosts.addresses):
            s = sshd.SSHServer(base / ns, address=address, port=22, netns=ns, user_key=key, alias_all=False)
            servers.append(s.start())
        config = base / "ssh_config"
        config.write_text(sshd.client_config(key, 22))
        yield hosts, ["ssh", "-F", str(config)]
    finally:
        for s in servers:
            s.stop()
        hosts.down()
        kill_processes_using(base)


def test_engines_in_separate_network_namespaces(namespace_hosts, launch, tmp_path):
    hosts, ssh = namespace_hosts
    d, remote = tmp_path / "d", tmp_path / "remote"
    clusterfile = write_clusterfile(tmp_path / "clusterfile.py", {a: 1 for a in hosts.addresses}, ssh, remote)
    run = launch("ssh", "--clusterfile", clusterfile, "--ipythondir", d, "--engine-ip", hosts.gateway)
    run.wait_ready()
    assert f"{hosts.gateway}:" in (d / "security" / "ipcontroller-engine.furl").read_text()
    mec = mec_for(d)
    assert do_work(mec, 2) == [0, 1]
    mec.execute("import os\n"
                "netns = os.readlink('/proc/self/ns/net')\n"
                "ip = os.popen('ip -o -4 addr show dev eth0').read().split()[3].split('/')[0]")
    assert sorted(mec.pull("ip")) == sorted(hosts.addresses)
    spaces = mec.pull("netns")
    assert len(set(spaces)) == 2 and os.readlink("/proc/self/ns/net") not in spaces
    assert sorted(len(hosts.pids(ns)) for ns in hosts.namespaces) == [2, 2]  # sshd + one engine each
    run.signal(signal.SIGTERM)
    assert run.wait() == 0
    assert [len(hosts.pids(ns)) for ns in hosts.namespaces] == [1, 1]  # only the sshds are left
    assert processes_using(d) == [] and engine_processes(remote) == []
