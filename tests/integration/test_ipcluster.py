"""ipcluster on one machine, run as the real program: start, work, stop, fail loudly."""

import signal
import socket


from tests.launchers.helpers import (
    do_work,
    engine_processes,
    free_port,
    launch,  # noqa: F401 (fixture)
    mec_for,
    parent_of,
    processes_using,
    run_ipcluster,
)


def test_ipcluster_n_starts_engines_and_ctrl_c_stops_everything(launch, tmp_path):
    d = tmp_path / "d"
    run = launch("-n", "3", "--ipythondir", d, "-x", "-y", "--scheme", "lru", "--relays", "2")
    run.wait_ready()
    controller = [pid for pid, cmd in processes_using(d) if "ipcontroller" in cmd]
    relays = [pid for pid, _ in processes_using("kernel.apps.relay") if parent_of(pid) in controller]
    assert len(relays) == 2
    out = run.output
    assert "-x/-y are ignored" in out
    assert "3 engines registered" in out
    assert f"MultiEngineClient('{d}/security/ipcontroller-mec.furl')" in out
    assert f"engines:     {d}/security/ipcontroller-engine.furl" in out
    assert f"Logs: {d}/log" in out
    assert (d / "pid" / "ipcluster.pid").read_text().strip() == str(run.proc.pid)
    mec = mec_for(d)
    assert do_work(mec, 3) == [0, 1, 2]
    mec.close()
    assert len(engine_processes(d)) == 3
    run.signal(signal.SIGINT)
    assert run.wait() == 0
    out = run.output
    assert "stopping (SIGINT)" in out
    assert out.index("stopping 3 local engines") < out.index("stopping the controller")
    assert processes_using(d) == []
    assert [pid for pid in relays if parent_of(pid) is not None] == []
    assert not (d / "pid" / "ipcluster.pid").exists()


def test_ipcluster_local_stopped_by_ipcluster_stop(launch, tmp_path):
    d, logs = tmp_path / "d", tmp_path / "logs"
    run = launch("local", "-n", "2", "--ipythondir", d, "--logdir", logs)
    run.wait_ready()
    assert do_work(mec_for(d), 2) == [0, 1]
    code, out = run_ipcluster(["-n", "1", "--ipythondir", d])
    assert code == 1 and "already running" in out and str(run.proc.pid) in out
    code, out = run_ipcluster(["stop", "--ipythondir", d])
    assert code == 0, out
    assert run.wait() == 0
    assert "stopping (SIGTERM)" in run.output
    assert processes_using(d) == []
    assert len(list(logs.glob("ipengine-*.log"))) == 2
    assert len(list(logs.glob("ipcontroller-*.log"))) == 1
    code, out = run_ipcluster(["stop", "--ipythondir", d])
    assert code == 1 and "no cluster is running" in out


def test_ipcluster_start_with_reused_furls_and_sigterm(launch, tmp_path):
    d = tmp_path / "d"
    ports = ["--client-port", free_port(), "--engine-port", free_port()]
    furls = []
    for _ in range(2):
        run = launch("start", "-n", "1", "--ipythondir", d, "-r", *ports)
        run.wait_ready()
        assert do_work(mec_for(d), 1) == [0]
        furls.append((d / "security" / "ipcontroller-mec.furl").read_text())
        run.signal(signal.SIGTERM)
        assert run.wait() == 0
        assert processes_using(d) == []
    assert furls[0] == furls[1]


def test_reuse_without_ports_is_a_usage_error(tmp_path):
    code, out = run_ipcluster(["-r", "-n", "1", "--ipythondir", tmp_path / "d"])
    assert code == 2
    assert "you must also set the client and engine ports" in out


def test_controller_that_cannot_listen_fails_with_its_log(launch, tmp_path):
    d = tmp_path / "d"
    with socket.socket() as busy:
        busy.bind(("", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = launch("-n", "2", "--ipythondir", d, "--client-port", port)
        assert run.wait() == 1
    out = run.output
    assert "before writing its FURL files" in out
    assert "Address already in use" in out  # the controller's own words, from its output
    assert processes_using(d) == []


def test_engines_that_never_register_time_out_with_their_log(launch, tmp_path):
    d = tmp_path / "d"
    run = launch("-n", "2", "--ipythondir", d, "--timeout", "4",
                 "--engine-ip", "127.0.0.1", "--engine-location", "127.0.0.2")
    assert run.wait() == 1
    out = run.output
    assert "only 0 of 2 engines registered within 4 s" in out
    assert "127.0.0.2" in out.split("registered within")[1]  # the engine's log tail says where it tried
    assert processes_using(d) == []


def test_engines_that_exit_fail_fast_with_their_output(launch, tmp_path):
    d = tmp_path / "d"
    run = launch("-n", "2", "--ipythondir", d,
                 f"--engine-args=--furl-file {tmp_path}/missing.furl --furl-wait 0.2")
    assert run.wait() == 1
    out = run.output
    assert "exited with code 2" in out
    assert "no FURL file" in out
    assert processes_using(d) == []


def test_ctrl_c_while_engines_are_registering_stops_everything(launch, tmp_path):
    d = tmp_path / "d"
    run = launch("-n", "2", "--ipythondir", d, "--engine-ip", "127.0.0.1", "--engine-location", "127.0.0.2")
    run.wait_for_text("started 2 local engines")
    run.signal(signal.SIGINT)
    assert run.wait() == 1
    assert "before all engines registered" in run.output
    assert processes_using(d) == []
