"""The capability model against real processes over TLS on loopback."""

import os
import socket
import stat

import pytest

from kernel import client, furl, paths
from kernel.errors import BadFURLError, CapabilityRefused, WrongKeyError
from security import hostile
from tests.harness import ProcessCluster, wait_for


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One controller with two engines for the tests that leave it as they found it."""
    c = ProcessCluster(tmp_path_factory.mktemp("security"))
    c.start_controller()
    c.start_engines(2)
    yield c
    c.stop()


def read_furl(path):
    return furl.load(path)


def test_furl_files_are_private_and_distinct(cluster):
    assert stat.S_IMODE(os.stat(cluster.security).st_mode) == 0o700
    swissnums = set()
    for name in (paths.ENGINE_FURL, paths.MEC_FURL):
        path = cluster.security / name
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        swissnums.add(read_furl(str(path)).swissnum)
    for pem in cluster.security.glob("*.pem"):
        assert stat.S_IMODE(os.stat(pem).st_mode) == 0o600
    assert len(swissnums) == 2


def test_forged_swissnum_is_refused(cluster):
    real = read_furl(cluster.mec_furl)
    forged = furl.FURL(real.tubid, real.hints, furl.new_swissnum())
    with pytest.raises(CapabilityRefused, match="no such capability") as refused:
        client.MultiEngineClient(str(forged))
    assert forged.swissnum[:4] + "…" not in str(refused.value)  # the refusal quotes no part of the secret
    assert client.MultiEngineClient(cluster.mec_furl).get_ids() == [0, 1]


def test_wrong_tubid_is_refused_before_anything_is_sent(cluster):
    real = read_furl(cluster.mec_furl)
    wrong = furl.FURL("b" * 52, real.hints, real.swissnum)
    with pytest.raises(WrongKeyError, match="not the pinned tub id"):
        client.MultiEngineClient(str(wrong))


def test_capability_for_another_interface_is_refused(cluster):
    with pytest.raises(CapabilityRefused, match="'engine' interface"):
        client.MultiEngineClient(cluster.engine_furl)


def test_engine_port_does_not_know_client_swissnums(cluster):
    engine = read_furl(cluster.engine_furl)
    mec = read_furl(cluster.mec_furl)
    crossed = furl.FURL(engine.tubid, engine.hints, mec.swissnum)
    with pytest.raises(CapabilityRefused, match="no such capability"):
        client.MultiEngineClient(str(crossed))


def test_malformed_furl_and_missing_file(tmp_path):
    with pytest.raises(BadFURLError, match="bad port"):
        client.MultiEngineClient(f"pb://{'a' * 52}@127.0.0.1:x/{'b' * 32}")
    with pytest.raises(BadFURLError, match="no such file"):
        client.MultiEngineClient(str(tmp_path / "nope.furl"))


def test_hostile_peers_on_both_ports_leave_the_controller_serving(cluster):
    engine = read_furl(cluster.engine_furl)
    mec = read_furl(cluster.mec_furl)
    silent = []
    for capability in (engine, mec):
        port = capability.hints[-1][1]
        for case in hostile.UNAUTHENTICATED:
            assert case(port), f"{case.__name__} on port {port} was not closed"
        for case in hostile.AUTHENTICATED:
            assert case(port, capability.swissnum), f"{case.__name__} on port {port} was not closed"
        silent.append(hostile.tls_then_silence(port))
    client_ = client.MultiEngineClient(cluster.mec_furl)
    assert client_.get_ids() == [0, 1]
    assert client_.execute("x = 1 + 1")[0]["number"] >= 1
    for s in silent:
        s.close()


def test_restart_with_fixed_ports_keeps_the_old_furls_working(cluster_factory):
    c = cluster_factory()
    ports = []
    for _ in range(2):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        ports.append(s.getsockname()[1])
        s.close()
    args = ["--client-port", str(ports[0]), "--engine-port", str(ports[1])]
    c.start_controller(*args)
    before = {n: (c.security / n).read_text() for n in (paths.ENGINE_FURL, paths.MEC_FURL)}
    c.start_engines(1)
    c.kill_controller()
    c.start_controller(*args)
    after = {n: (c.security / n).read_text() for n in (paths.ENGINE_FURL, paths.MEC_FURL)}
    assert before == after
    mec = client.MultiEngineClient(before[paths.MEC_FURL].strip())
    assert wait_for(lambda: mec.get_ids() == [0], what="the engine to re-register")


def test_random_ports_issue_fresh_swissnums(cluster_factory):
    c = cluster_factory()
    c.start_controller()
    first = read_furl(c.mec_furl)
    c.kill_controller()
    c.start_controller()
    second = read_furl(c.mec_furl)
    assert first.tubid == second.tubid  # same key
    assert first.swissnum != second.swissnum
    # the old capability at the new controller's address: refused. (The old
    # address itself proves nothing: once free, any socket may take the port.)
    with pytest.raises(CapabilityRefused):
        client.MultiEngineClient(str(furl.FURL(second.tubid, second.hints, first.swissnum)))


def test_engine_with_a_wrong_tubid_exits_naming_the_cause(cluster):
    real = read_furl(cluster.engine_furl)
    wrong = cluster.dir / "wrong.furl"
    wrong.write_text(str(furl.FURL("c" * 52, real.hints[-1:], real.swissnum)))
    [engine] = cluster.start_engines(1, "--furl-file", str(wrong), wait=False)
    assert engine.wait(30) == 1
    assert "not the pinned tub id" in cluster.output(engine)


def test_engine_with_a_forged_swissnum_exits_naming_the_cause(cluster):
    real = read_furl(cluster.engine_furl)
    forged = cluster.dir / "forged.furl"
    forged.write_text(str(furl.FURL(real.tubid, real.hints, furl.new_swissnum())))
    [engine] = cluster.start_engines(1, "--furl-file", str(forged), wait=False)
    assert engine.wait(30) == 1
    assert "no such capability" in cluster.output(engine)
