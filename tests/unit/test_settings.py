"""The one declaration of settings: every setting gets its file key, variable, flags and docs from it.

The tests run over ``kernel.settings.SETTINGS``, so a setting added there is
checked here without a new test.
"""

import io
from pathlib import Path

import pytest

from kernel import config, settings
from kernel.apps import common, ipcluster, ipcontroller, ipengine
from kernel.cluster import Cluster
from kernel.controller.service import ControllerConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"
SAMPLES = {  # kind -> (text, the value it means); none of them a default
    settings.SECONDS: ("7.5", 7.5), settings.SECONDS_OR_OFF: ("7.5", 7.5), settings.COUNT: ("7", 7),
    settings.SIZE: ("7MB", 7 * 10**6), settings.SWITCH: ("off", False), settings.RATE: ("7.5", 7.5),
}
PARSERS = {  # program -> argv -> its parsed flags
    "ipcontroller": lambda argv: ipcontroller.build_parser().parse_args(argv),
    "ipengine": lambda argv: ipengine.build_parser().parse_args(argv),
    "ipcluster": lambda argv: ipcluster.parse_args(["local", *argv]),
    "ipcluster stop": lambda argv: ipcluster.parse_args(["stop", *argv]),
    "ipcluster status": lambda argv: ipcluster.parse_args(["status", *argv]),
}
ALL = pytest.mark.parametrize("setting", settings.SETTINGS, ids=lambda s: s.key)


def sample(setting):
    if setting.kind.choices:
        other = [c for c in setting.kind.choices if c != setting.default][0]
        return other, other
    return SAMPLES[setting.kind]


def test_the_settings_document_is_written_from_the_declaration():
    assert DOC.read_text() == settings.markdown(), "run: python -m kernel.settings > docs/settings.md"


@ALL
def test_each_default_is_of_its_type_and_allowed_by_its_own_rule(setting):
    assert isinstance(setting.default, setting.type)
    assert setting.kind.parse(setting.default) == setting.default
    assert setting.help and setting.section in settings.SECTIONS


def test_every_program_named_is_one_that_reads_a_section():
    assert {p for s in settings.SETTINGS for p in s.programs} <= set(settings.READS)


@ALL
def test_each_setting_is_read_from_the_file_and_the_environment(tmp_path, setting):
    text, value = sample(setting)
    toml_value = value if isinstance(value, (bool, int, float)) else text
    (tmp_path / "kernel.toml").write_text(f"[{setting.section}]\n{setting.name} = {toml_repr(toml_value)}\n")
    loaded = config.load(tmp_path, setting.section, environ={})
    assert getattr(loaded, setting.name) == value and loaded.origin[setting.name].endswith("kernel.toml")
    loaded = config.load(tmp_path, setting.section, environ={setting.env: text})
    assert getattr(loaded, setting.name) == value and loaded.origin[setting.name] == setting.env


def toml_repr(value):
    return str(value).lower() if isinstance(value, bool) else repr(value).replace("'", '"')


@pytest.mark.parametrize("setting, program", [(s, p) for s in settings.SETTINGS for p in s.programs],
                         ids=lambda x: getattr(x, "key", x))
def test_each_flag_sets_its_setting(tmp_path, setting, program):
    text, value = sample(setting)
    argv = [setting.flag] if setting.kind is settings.SWITCH else [setting.flag, text]
    args = PARSERS[program](argv)
    assert getattr(args, setting.name) == value
    if settings.READS[program] == setting.section:
        loaded = common.load_settings(args, program, tmp_path)
        assert getattr(loaded, setting.name) == value and loaded.origin[setting.name] == setting.flag


def test_a_flag_not_given_leaves_the_value_to_the_file(tmp_path):
    (tmp_path / "kernel.toml").write_text("[cluster]\nstop_wait = 3\n")
    args = ipcluster.parse_args(["stop", "--ipythondir", str(tmp_path)])
    assert common.load_settings(args, "ipcluster stop", tmp_path).stop_wait == 3.0


def test_a_bad_flag_value_names_the_flag_and_the_rule():
    with pytest.raises(common.UsageError, match="argument --timeout: expected a positive number of seconds, "
                                                "not 'soon'"):
        ipcluster.parse_args(["status", "--timeout", "soon"])


def test_an_unknown_table_is_refused(tmp_path):
    (tmp_path / "kernel.toml").write_text("[controler]\nscheme = 'lru'\n")
    with pytest.raises(config.ConfigError, match=r"kernel.toml: unknown table \[controler\]; known: controller, "):
        config.load(tmp_path, "engine", environ={})


def test_the_controller_config_is_typed_with_every_controller_setting(tmp_path):
    (tmp_path / "kernel.toml").write_text("[controller]\npoison_after = 0\nfinished_kept = 50\n")
    args = ipcontroller.build_parser().parse_args(["--max-results", "9", "--reset-db"])
    made = ipcontroller.config_from(args, tmp_path, common.load_settings(args, "ipcontroller", tmp_path))
    assert isinstance(made, ControllerConfig) and isinstance(made, settings.ControllerSettings)
    assert (made.poison_after, made.finished_kept, made.max_results, made.reset_db) == (0, 50, 9, True)
    assert made.scheme == settings.ControllerSettings.scheme == "leastload"
    assert not hasattr(made, "extra")


def test_ipcluster_show_config_prints_the_cluster_settings(tmp_path):
    (tmp_path / "kernel.toml").write_text("[cluster]\nrestart_limit = 2\n")
    out, err = io.StringIO(), io.StringIO()
    assert ipcluster.main(["--ipythondir", str(tmp_path), "--timeout", "9", "--show-config"], out, err) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == len(settings.of_section("cluster"))
    assert any(line.startswith("timeout") and "9.0" in line and "(--timeout)" in line for line in lines), lines
    assert any(line.startswith("restart_limit") and "kernel.toml" in line for line in lines), lines
    assert not (tmp_path / "log").exists()


def test_cluster_takes_its_settings_from_the_file_and_checks_what_it_passes_on(tmp_path):
    (tmp_path / "kernel.toml").write_text("[cluster]\ntimeout = 9\nstop_timeout = 2\n")
    c = Cluster(ipythondir=tmp_path, stop_timeout=3, scheme="lru", relays=2, memory_limit="1GB", engine_args=["-x"])
    assert (c.timeout, c.stop_timeout) == (9.0, 3.0)
    assert c.controller_args[-4:] == ["--scheme", "lru", "--relays", "2"]
    assert c.engine_args == ["--memory-limit", str(10**9), "-x"]
    with pytest.raises(config.ConfigError, match="scheme: controller.scheme = 'fastest' is not allowed"):
        Cluster(ipythondir=tmp_path, scheme="fastest")
    with pytest.raises(config.ConfigError, match="relays: controller.relays = -1 is not allowed"):
        Cluster(ipythondir=tmp_path, relays=-1)


def test_the_scheduler_runs_the_declared_schemes():
    from kernel.controller import scheduler

    assert scheduler.SCHEMES is settings.SCHEMES  # one list: the flag's choices are the schemes that exist


def test_the_whole_kernel_toml_of_the_document_loads_as_the_defaults(tmp_path):
    document = settings.markdown()
    (tmp_path / "kernel.toml").write_text(document.split("```toml\n")[1].split("```")[0])
    for section, cls in settings.SECTIONS.items():
        assert config.load(tmp_path, section, environ={}).values == cls()
