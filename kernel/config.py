"""Settings: every timeout, limit and default in one place.

Each value comes from, in rising order of precedence: the built-in default,
``DIR/kernel.toml`` (read with ``tomllib``; one table per program), an
environment variable ``KERNEL_<SECTION>_<NAME>`` and a command-line flag.
``Settings.origin`` says which one won, for ``--show-config``. A bad value is
refused with the key, the value and what is allowed.
"""

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from kernel.controller.scheduler import SCHEMES
from kernel.errors import KernelError

CONFIG_FILE = "kernel.toml"


class ConfigError(KernelError, ValueError):
    """A setting has a value that is not allowed; the message names key, value and rule."""


def _number(kind, minimum, strict):
    def parse(value):
        if isinstance(value, bool) or (kind is int and isinstance(value, float)):
            raise ValueError
        number = kind(value)
        if number < minimum or (strict and number == minimum):
            raise ValueError
        return number

    return parse


def _choice(options):
    def parse(value):
        if value not in options:
            raise ValueError
        return value

    return parse


UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
         "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*")


def parse_size(value):
    """Bytes from ``2GB``, ``500MB``, ``1.5GiB`` or a number of bytes (GB = 10**9, GiB = 2**30)."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, (int, float)):
        number, unit = value, ""
    else:
        match = _SIZE.fullmatch(str(value).lower())
        if match is None or match.group(2) not in UNITS:
            raise ValueError
        number, unit = float(match.group(1)), match.group(2)
    size = int(number * UNITS[unit])
    if size < 0:
        raise ValueError
    return size


TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _boolean(value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE | FALSE:
        return text in TRUE
    raise ValueError


@dataclass(frozen=True)
class Option:
    section: str
    name: str
    default: object
    parse: object  # value (from TOML, or a string) -> value; ValueError if not allowed
    rule: str  # what is allowed, for the error message
    help: str

    @property
    def key(self):
        return f"{self.section}.{self.name}"

    @property
    def env(self):
        return f"KERNEL_{self.section}_{self.name}".upper()


SECONDS = (_number(float, 0, True), "a positive number of seconds")
SECONDS_OR_0 = (_number(float, 0, False), "0 (off) or a positive number of seconds")
COUNT = (_number(int, 0, False), "a whole number, 0 or more")
SWITCH = (_boolean, "true or false (1/0, yes/no, on/off)")
SIZE = (parse_size, "0 (off) or a size: bytes, or a number with a unit (500MB, 2GB, 1.5GiB)")

OPTIONS = [
    Option("controller", "scheme", "leastload", _choice(SCHEMES), f"one of {', '.join(SCHEMES)}",
           "task load-balancing scheme"),
    Option("controller", "heartbeat_period", 1.0, *SECONDS, "seconds between heartbeats to engines"),
    Option("controller", "heartbeat_timeout", 10.0, *SECONDS, "unregister an engine silent this long"),
    Option("controller", "poison_after", 3, *COUNT, "engine deaths before a task is poison (0: never)"),
    Option("controller", "max_results", 0, *COUNT, "finished results kept (0: all)"),
    Option("controller", "result_ttl", 0.0, *SECONDS_OR_0, "drop results this long after they completed"),
    Option("engine", "furl_wait", 30.0, *SECONDS, "wait this long for the FURL file"),
    Option("engine", "controller_timeout", 120.0, *SECONDS, "exit after this long without a controller"),
    Option("engine", "heartbeat_timeout", 10.0, *SECONDS, "reconnect after this long without a word"),
    Option("engine", "reconnect_max_delay", 5.0, *SECONDS, "longest wait between reconnect attempts"),
    Option("engine", "shared_memory", True, *SWITCH, "use /dev/shm with clients on this host (off: always the socket)"),
    Option("engine", "memory_limit", 0, *SIZE, "stop user code that grows the engine past this (0: no limit)"),
    Option("cluster", "restart_limit", 5, *COUNT, "restarts of one engine slot within restart_window (0: never)"),
    Option("cluster", "restart_window", 60.0, *SECONDS, "the window of restart_limit"),
    Option("client", "shared_memory", True, *SWITCH, "move big arrays to and from engines on this host "
                                                        "through /dev/shm"),
]


class Settings:
    """The effective values of one program's section, with where each came from."""

    def __init__(self, values, origins):
        self._values = values
        self.origin = origins

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def show(self):
        """Lines for ``--show-config``: key, value and where it came from."""
        width = max(len(name) for name in self._values)
        return [f"{name:<{width}} = {value!r:<12} ({self.origin[name]})" for name, value in self._values.items()]


def _parse(option, value, where):
    try:
        return option.parse(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {option.key} = {value!r} is not allowed: expected {option.rule}") from None


def parse(key, value, where):
    """One setting's value (``key`` is ``section.name``), checked as a file's would be; ``where`` gave it."""
    option = next((o for o in OPTIONS if o.key == key), None)
    if option is None:
        raise KeyError(f"no setting {key}")
    return _parse(option, value, where)


def load(ipythondir, section, flags=None, environ=None):
    """The settings of ``section`` for a program started with ``flags`` (name -> value or None).

    ``ipythondir`` None: no file, only defaults, the environment and flags.
    """
    environ = os.environ if environ is None else environ
    flags = flags or {}
    path = None if ipythondir is None else Path(ipythondir) / CONFIG_FILE
    table = {}
    if path is not None and path.exists():
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8")).get(section, {})
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
    options = [o for o in OPTIONS if o.section == section]
    known = {o.name for o in options}
    for name in table:
        if name not in known:
            raise ConfigError(f"{path}: unknown setting {section}.{name}; known: {', '.join(sorted(known))}")
    values, origins = {}, {}
    for option in options:
        value, origin = option.default, "default"
        if option.name in table:
            value, origin = _parse(option, table[option.name], str(path)), str(path)
        if option.env in environ:
            value, origin = _parse(option, environ[option.env], option.env), option.env
        if flags.get(option.name) is not None:
            flag = ("--no-" if flags[option.name] is False else "--") + option.name.replace("_", "-")
            value, origin = _parse(option, flags[option.name], flag), flag
        values[option.name], origins[option.name] = value, origin
    return Settings(values, origins)
