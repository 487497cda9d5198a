"""Settings: defaults, DIR/kernel.toml, environment and flags, in that order."""

import io

import pytest

from kernel import config, settings
from kernel.apps import ipcontroller, ipengine


def test_defaults_then_file_then_environment_then_flags(tmp_path):
    (tmp_path / "kernel.toml").write_text(
        "[controller]\nheartbeat_timeout = 20\nscheme = 'lru'\nmax_results = 100\n")
    env = {"KERNEL_CONTROLLER_HEARTBEAT_TIMEOUT": "30", "KERNEL_CONTROLLER_SCHEME": "twobin"}
    settings = config.load(tmp_path, "controller", {"scheme": "weighted"}, environ=env)
    assert settings.heartbeat_period == 1.0 and settings.origin["heartbeat_period"] == "default"
    assert settings.max_results == 100 and settings.origin["max_results"].endswith("kernel.toml")
    assert settings.heartbeat_timeout == 30.0
    assert settings.origin["heartbeat_timeout"] == "KERNEL_CONTROLLER_HEARTBEAT_TIMEOUT"
    assert settings.scheme == "weighted" and settings.origin["scheme"] == "--scheme"


@pytest.mark.parametrize("toml, message", [
    ("[controller]\nheartbeat_timeout = -1\n", "controller.heartbeat_timeout = -1 is not allowed: "
                                               "expected a positive number of seconds"),
    ("[controller]\nscheme = 'fastest'\n", "controller.scheme = 'fastest' is not allowed: expected one of"),
    ("[controller]\npoison_after = 1.5\n", "expected a whole number"),
    ("[controller]\nheartbeat_timout = 3\n", "unknown setting controller.heartbeat_timout"),
    ("[controller\n", "not valid TOML"),
])
def test_bad_values_name_the_key_the_value_and_the_rule(tmp_path, toml, message):
    (tmp_path / "kernel.toml").write_text(toml)
    with pytest.raises(config.ConfigError, match=message.replace("(", r"\(")):
        config.load(tmp_path, "controller", environ={})


def test_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(config.ConfigError, match="KERNEL_ENGINE_FURL_WAIT: engine.furl_wait = 'soon'"):
        config.load(tmp_path, "engine", environ={"KERNEL_ENGINE_FURL_WAIT": "soon"})


@pytest.mark.parametrize("main, section", [(ipcontroller.main, "controller"), (ipengine.main, "engine")])
def test_show_config_prints_values_and_origins(tmp_path, main, section):
    (tmp_path / "kernel.toml").write_text(f"[{section}]\nheartbeat_timeout = 42\n")
    out, err = io.StringIO(), io.StringIO()
    assert main(["--ipythondir", str(tmp_path), "--show-config"], out, err) == 0
    lines = out.getvalue().splitlines()
    assert any(line.startswith("heartbeat_timeout") and "42.0" in line and "kernel.toml" in line
               for line in lines), lines
    assert len(lines) == len(settings.of_section(section))


def test_a_bad_file_stops_the_program_with_one_line(tmp_path):
    (tmp_path / "kernel.toml").write_text("[engine]\ncontroller_timeout = 0\n")
    out, err = io.StringIO(), io.StringIO()
    assert ipengine.main(["--ipythondir", str(tmp_path)], out, err) == 2
    assert "engine.controller_timeout = 0 is not allowed" in err.getvalue()
    assert err.getvalue().count("\n") == 1


def test_a_bad_controller_setting_is_one_line_too(tmp_path):
    (tmp_path / "kernel.toml").write_text("[controller]\nscheme = 'fastest'\n")
    out, err = io.StringIO(), io.StringIO()
    assert ipcontroller.main(["--ipythondir", str(tmp_path)], out, err) == 2
    assert "controller.scheme = 'fastest' is not allowed" in err.getvalue()


@pytest.mark.parametrize("where, value, expected", [
    ("toml", "false", False), ("toml", "true", True), ("env", "0", False), ("env", "Yes", True),
    ("env", "off", False),
])
def test_shared_memory_is_a_switch(tmp_path, where, value, expected):
    environ = {}
    if where == "toml":
        (tmp_path / "kernel.toml").write_text(f"[client]\nshared_memory = {value}\n")
    else:
        environ["KERNEL_CLIENT_SHARED_MEMORY"] = value
    assert config.load(tmp_path, "client", environ=environ).shared_memory is expected


def test_a_bad_switch_names_what_is_allowed(tmp_path):
    with pytest.raises(config.ConfigError, match="client.shared_memory = 'sometimes' is not allowed: "
                                                 "expected true or false"):
        config.load(tmp_path, "client", environ={"KERNEL_CLIENT_SHARED_MEMORY": "sometimes"})


def test_ipengine_no_shared_memory_is_shown_as_the_flag_given(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    assert ipengine.main(["--ipythondir", str(tmp_path), "--no-shared-memory", "--show-config"], out, err) == 0
    assert any(line.startswith("shared_memory") and "False" in line and "(--no-shared-memory)" in line
               for line in out.getvalue().splitlines())


@pytest.mark.parametrize("value, expected", [
    ("2GB", 2 * 10**9), ("500MB", 500 * 10**6), ("1.5GiB", 3 * 2**29), ("200 mb", 200 * 10**6),
    ("0", 0), (1048576, 2**20),
])
def test_memory_limit_takes_sizes(tmp_path, value, expected):
    (tmp_path / "kernel.toml").write_text(f"[engine]\nmemory_limit = {value!r}\n".replace("'", '"'))
    assert config.load(tmp_path, "engine", environ={}).memory_limit == expected


@pytest.mark.parametrize("value", ["lots", "-1GB", "2XB", "GB"])
def test_a_bad_memory_limit_names_what_is_allowed(tmp_path, value):
    with pytest.raises(config.ConfigError, match=f"KERNEL_ENGINE_MEMORY_LIMIT: engine.memory_limit = '{value}' "
                                                 r"is not allowed: expected 0 \(off\) or a size"):
        config.load(tmp_path, "engine", environ={"KERNEL_ENGINE_MEMORY_LIMIT": value})


def test_cluster_restart_settings(tmp_path):
    settings = config.load(tmp_path, "cluster", environ={})
    assert (settings.restart_limit, settings.restart_window) == (5, 60.0)
    (tmp_path / "kernel.toml").write_text("[cluster]\nrestart_limit = 0\nrestart_window = 300\n")
    settings = config.load(tmp_path, "cluster", {"restart_window": 10}, environ={})
    assert (settings.restart_limit, settings.restart_window) == (0, 10.0)
    assert settings.origin["restart_window"] == "--restart-window"
    (tmp_path / "kernel.toml").write_text("[cluster]\nrestart_limit = -1\n")
    with pytest.raises(config.ConfigError, match="cluster.restart_limit = -1 is not allowed: expected a whole number"):
        config.load(tmp_path, "cluster", environ={})


def test_no_directory_means_no_file():
    settings = config.load(None, "cluster", environ={"KERNEL_CLUSTER_RESTART_LIMIT": "2"})
    assert settings.restart_limit == 2 and settings.origin["restart_window"] == "default"


def test_ipengine_memory_limit_flag(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    assert ipengine.main(["--ipythondir", str(tmp_path), "--memory-limit", "2GB", "--show-config"], out, err) == 0
    assert any(line.startswith("memory_limit") and "2000000000" in line and "(--memory-limit)" in line
               for line in out.getvalue().splitlines())
    assert ipengine.main(["--memory-limit", "lots"], out, err) == 2
    assert "argument --memory-limit: expected 0 (off) or a size: bytes, or a number with a unit " \
           "(500MB, 2GB, 1.5GiB), not 'lots'" in err.getvalue()


def test_ipcluster_refuses_a_bad_cluster_setting_before_starting_anything(tmp_path):
    from kernel.apps import ipcluster

    (tmp_path / "kernel.toml").write_text("[cluster]\nrestart_window = 0\n")
    out, err = io.StringIO(), io.StringIO()
    assert ipcluster.main(["-n", "1", "--ipythondir", str(tmp_path)], out, err) == 2
    assert err.getvalue() == (f"ipcluster: error: {tmp_path}/kernel.toml: cluster.restart_window = 0 is not "
                              "allowed: expected a positive number of seconds\n")
    assert not (tmp_path / "log").exists()
