"""Settings' values: the declared default, then DIR/kernel.toml, then the environment, then a flag.

``kernel.settings`` declares every setting. ``load`` finds the values of one
section, in rising order of precedence: the default, ``DIR/kernel.toml`` (one
table per section, read with ``tomllib``), the environment variable
``KERNEL_<SECTION>_<NAME>`` and the command-line flag. ``Settings.origin`` says
which one won, for ``--show-config``. A bad value is refused with the key, the
value and what is allowed.
"""

import os
import tomllib
from pathlib import Path

from kernel import settings as declared
from kernel.errors import KernelError

CONFIG_FILE = "kernel.toml"


class ConfigError(KernelError, ValueError):
    """A setting has a value that is not allowed; the message names key, value and rule."""


class Settings:
    """The effective values of one section (``values``, its kernel.settings dataclass), with where each came from."""

    def __init__(self, values, origin):
        self.values = values
        self.origin = origin

    def __getattr__(self, name):
        if name in ("values", "origin"):  # not set yet (as while unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.values, name)

    def show(self):
        """Lines for ``--show-config``: key, value and where it came from."""
        width = max(len(name) for name in self.origin)
        return [f"{name:<{width}} = {getattr(self.values, name)!r:<12} ({origin})"
                for name, origin in self.origin.items()]


def _check(setting, value, where):
    try:
        return setting.kind.parse(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {setting.key} = {value!r} is not allowed: "
                          f"expected {setting.kind.rule}") from None


def argv(key, value, where):
    """The flag that passes ``value`` of setting ``key`` (``section.name``) to the program that reads it,
    checked as a file's value would be and named ``where`` if it is bad ([] for None)."""
    if value is None:
        return []
    setting = declared.find(key)
    value = _check(setting, value, where)
    if isinstance(value, bool):
        return [setting.flag] if value != setting.default else []
    return [setting.flag, str(value)]


def _table(path, section):
    """The ``[section]`` table of the file at ``path`` ({} if there is no file)."""
    if path is None or not path.exists():
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    for name in document:
        if name not in declared.SECTIONS:
            raise ConfigError(f"{path}: unknown table [{name}]; known: {', '.join(declared.SECTIONS)}")
    table = document.get(section, {})
    known = [s.name for s in declared.of_section(section)]
    for name in table:
        if name not in known:
            raise ConfigError(f"{path}: unknown setting {section}.{name}; known: {', '.join(sorted(known))}")
    return table


def load(ipythondir, section, flags=None, environ=None):
    """The settings of ``section`` for a program started with ``flags`` (name -> value, or None if not given).

    ``ipythondir`` None: no file, only defaults, the environment and flags.
    """
    environ = os.environ if environ is None else environ
    flags = flags or {}
    path = None if ipythondir is None else Path(ipythondir) / CONFIG_FILE
    table = _table(path, section)
    values, origin = {}, {}
    for setting in declared.of_section(section):
        value, where = setting.default, "default"
        if setting.name in table:
            value, where = _check(setting, table[setting.name], str(path)), str(path)
        if setting.env in environ:
            value, where = _check(setting, environ[setting.env], setting.env), setting.env
        if flags.get(setting.name) is not None:
            value, where = _check(setting, flags[setting.name], setting.flag), setting.flag
        values[setting.name], origin[setting.name] = value, where
    return Settings(declared.SECTIONS[section](**values), origin)
