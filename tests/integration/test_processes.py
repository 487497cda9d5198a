"""ipcontroller and ipengine as programs: flags, logs and clean shutdown."""

import signal
from pathlib import Path

from kernel import paths


def test_legacy_flags_warn_and_logfile_prefix_is_honoured(cluster_factory, tmp_path):
    c = cluster_factory()
    prefix = tmp_path / "ctl-"
    process = c.start_controller("-x", "-y", "-l", str(prefix))
    out = c.output(process)
    assert "connections are always encrypted" in out
    log = tmp_path / f"ctl-{process.pid}.log"
    assert f"log in {log}" in out
    c.start_engines(1)
    assert "engine 0 registered" in log.read_text()


def test_sigterm_stops_the_controller_cleanly_and_keeps_furls(cluster_factory):
    c = cluster_factory()
    c.start_controller()
    c.start_engines(1)
    c.controller.send_signal(signal.SIGTERM)
    assert c.controller.wait(30) == 0
    assert (c.security / paths.MEC_FURL).exists() and (c.security / paths.ENGINE_FURL).exists()
    log = c.log(c.controller).read_text()
    assert "controller stopped; FURL files kept" in log


def test_sigterm_stops_an_engine_and_it_is_unregistered(cluster_factory):
    c = cluster_factory()
    c.start_controller()
    [engine] = c.start_engines(1)
    engine.send_signal(signal.SIGTERM)
    assert engine.wait(30) == 0
    c.wait_for_engines(0)


def test_an_engine_reaches_a_controller_named_by_host_name(cluster_factory, tmp_path):
    c = cluster_factory()
    c.start_controller()
    furl = Path(c.engine_furl).read_text().replace("@127.0.0.1:", "@localhost:")  # resolved on a reactor thread pool
    named = tmp_path / "by-name.furl"
    named.write_text(furl)
    c.start_engines(1, "--furl-file", str(named))
    assert c.client().execute("x = 1")[0]["id"] == 0


def test_a_busy_port_is_one_line_naming_it(cluster_factory):
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        c = cluster_factory()
        controller = c.start_controller("--client-ip", "127.0.0.1", "--client-port", str(port), wait=False)
        assert controller.wait(30) == 1
        out = c.output(controller)
        assert "ipcontroller: cannot listen:" in out and str(port) in out
        assert "Traceback" not in out
    finally:
        busy.close()
