"""Every setting, declared once: its name, type, default, unit, help and the programs whose flag sets it.

A section is a dataclass below; each field is one setting, made with
``setting(default, kind, help, *programs)``. Everything else is made from
these fields: the keys of ``DIR/kernel.toml`` and the ``KERNEL_<SECTION>_<NAME>``
variables (``kernel.config``), the programs' flags and ``--show-config``
(``kernel.apps.common``), and ``docs/settings.md`` (``python -m kernel.settings
> docs/settings.md``; a test checks it). Code that needs a default reads it
from its class, ``EngineSettings.heartbeat_timeout``: to add a setting, add a
field here and read it where it is used.

This module imports nothing of kernel: every layer may read it.
"""

import re
from dataclasses import dataclass, field, fields
from typing import Callable

SCHEMES = ("lru", "plainrandom", "twobin", "weighted", "leastload")  # kernel.controller.scheduler runs them


@dataclass(frozen=True)
class Kind:
    """What values a setting takes: how a TOML value or a string becomes one, and how to name it."""

    parse: Callable[[object], object]  # raises ValueError (or TypeError) for a value not allowed
    rule: str  # what is allowed, for error messages and the docs
    metavar: str = ""  # the flag's argument in --help
    unit: str = ""  # after a number in --help and the docs
    choices: tuple = ()  # all the values, when there are a few


def _number(kind, minimum, strict):
    def parse(value):
        if isinstance(value, bool) or (kind is int and isinstance(value, float)):
            raise ValueError
        number = kind(value)
        if number < minimum or (strict and number == minimum):
            raise ValueError
        return number

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


def _switch(value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE | FALSE:
        return text in TRUE
    raise ValueError


def choice(*options):
    def parse(value):
        if value not in options:
            raise ValueError
        return value

    return Kind(parse, f"one of {', '.join(options)}", choices=options)


SECONDS = Kind(_number(float, 0, True), "a positive number of seconds", "S", "s")
SECONDS_OR_OFF = Kind(_number(float, 0, False), "0 (off) or a positive number of seconds", "S", "s")
COUNT = Kind(_number(int, 0, False), "a whole number, 0 or more", "N")
RATE = Kind(_number(float, 0, True), "a positive number per second", "N", "/s")
SWITCH = Kind(_switch, "true or false (1/0, yes/no, on/off)")
SIZE = Kind(parse_size, "0 (off) or a size: bytes, or a number with a unit (500MB, 2GB, 1.5GiB)", "SIZE", "bytes")


@dataclass(frozen=True)
class Setting:
    """One setting as declared: everything that flags, files, variables and docs are made from."""

    section: str
    name: str
    type: type
    default: object
    kind: Kind
    help: str
    programs: tuple  # the programs whose flag sets it: "ipengine", "ipcluster stop", ...
    flag: str

    @property
    def key(self):
        return f"{self.section}.{self.name}"

    @property
    def env(self):
        return f"KERNEL_{self.section}_{self.name}".upper()

    def shown(self, value):
        """``60 s``, ``true``, ``leastload``: a value as --help and the docs write it."""
        if isinstance(value, bool):
            return "true" if value else "false"
        text = f"{value:g}" if isinstance(value, float) else str(value)
        return f"{text} {self.kind.unit}" if self.kind.unit and value else text


def setting(default, kind, help, *programs, flag=None):
    """A field of a section: ``programs`` take it as ``flag`` (default: ``--name``, or ``--no-name``
    for a switch that is on by default)."""
    return field(default=default, metadata={"kind": kind, "help": help, "programs": programs, "flag": flag})


@dataclass(kw_only=True)
class ControllerSettings:
    """`ipcontroller` (and `ipcluster`'s controller)."""

    scheme: str = setting("leastload", choice(*SCHEMES), "the task load-balancing scheme",
                          "ipcontroller", "ipcluster")
    heartbeat_period: float = setting(1.0, SECONDS, "time between heartbeats to an idle engine, while the "
                                                    "engines number at most heartbeat_rate × this", "ipcontroller")
    heartbeat_timeout: float = setting(10.0, SECONDS, "unregister an engine silent this long (longer in "
                                                      "proportion when the period is)", "ipcontroller")
    heartbeat_rate: float = setting(200.0, RATE, "the most heartbeats a second: with more engines, the period "
                                                 "is engines ÷ this", "ipcontroller")
    relays: int = setting(0, COUNT, "serve the engine port with this many relay processes, which hold the "
                                    "engines' connections: a call to every engine then costs the controller "
                                    "one message per relay, not per engine (0: the controller holds them)",
                          "ipcontroller", "ipcluster")
    poison_after: int = setting(3, COUNT, "fail a task as poison once this many engines died running it "
                                          "(0: never)", "ipcontroller")
    max_results: int = setting(0, COUNT, "keep at most this many of the newest finished results (0: all)",
                               "ipcontroller")
    result_ttl: float = setting(0.0, SECONDS_OR_OFF, "drop a finished result this long after it completed "
                                                     "(0: keep)", "ipcontroller")
    round_delay: float = setting(1.0, SECONDS_OR_OFF, "how long a task that every engine refused rests "
                                                      "before its next round")
    task_check_period: float = setting(0.25, SECONDS, "how often the timeouts of tasks are checked")
    prune_period: float = setting(30.0, SECONDS, "how often max_results and result_ttl are applied")
    finished_kept: int = setting(10000, COUNT, "finished tasks whose outcome stays in memory for "
                                               "dependencies; older ones are read back from the store")
    lease_wait: float = setting(60.0, SECONDS, "how long a request about a task whose id a client leased "
                                               "but has not sent yet waits for it, before NoSuchTask",
                                "ipcontroller")
    preauth_timeout: float = setting(10.0, SECONDS, "close a connection that has not authenticated this long "
                                                    "after it was accepted", "ipcontroller")
    preauth_per_peer: int = setting(100, COUNT, "connections one address may hold that are still unauthenticated "
                                                "preauth_grace after they were accepted; one more is closed when "
                                                "it gets there (0: no cap)", "ipcontroller")
    preauth_grace: float = setting(5.0, SECONDS, "how long a connection may take to authenticate before it "
                                                 "counts toward preauth_per_peer (1,000 engines of one host "
                                                 "registering together: 1.4 s)", "ipcontroller")
    preauth_max: int = setting(4096, COUNT, "connections not yet authenticated, in all, and never more than half "
                                            "the open-file limit; past it a new one closes one that waited past "
                                            "preauth_grace, else the oldest of the address that holds the most, "
                                            "else itself (0: only the half)", "ipcontroller")


@dataclass(kw_only=True)
class EngineSettings:
    """`ipengine` (and `ipcluster`'s engines)."""

    furl_wait: float = setting(30.0, SECONDS, "wait this long for the FURL file to appear", "ipengine")
    controller_timeout: float = setting(120.0, SECONDS, "exit after this long without a controller", "ipengine")
    heartbeat_timeout: float = setting(10.0, SECONDS, "reconnect after this long without a word from the "
                                                      "controller", "ipengine")
    reconnect_max_delay: float = setting(5.0, SECONDS, "the longest wait between reconnect attempts", "ipengine")
    shared_memory: bool = setting(True, SWITCH, "exchange arrays with clients on this host through /dev/shm",
                                  "ipengine")
    memory_limit: int = setting(0, SIZE, "stop user code that grows the engine past this, and restart it "
                                         "under ipcluster if it stays past it (0: no limit)",
                                "ipengine", "ipcluster")


@dataclass(kw_only=True)
class ClusterSettings:
    """`ipcluster` and `kernel.cluster.Cluster`."""

    timeout: float = setting(60.0, SECONDS, "give up if the controller or the engines are not up within this",
                             "ipcluster")
    stop_timeout: float = setting(5.0, SECONDS, "the grace period before processes are killed on stop",
                                  "ipcluster")
    restart_limit: int = setting(5, COUNT, "restart a local engine that dies at most this many times within "
                                           "the restart window (0: never)", "ipcluster")
    restart_window: float = setting(60.0, SECONDS, "the window of the restart limit", "ipcluster")
    fork_engines: bool = setting(True, SWITCH, "start local engines by forking them from one process that has "
                                               "imported an engine's modules: they start sooner and share that "
                                               "memory (off: each its own ipengine program)", "ipcluster")
    stop_wait: float = setting(60.0, SECONDS, "how long `ipcluster stop` waits for the cluster to stop",
                               "ipcluster stop", flag="--timeout")
    status_timeout: float = setting(5.0, SECONDS, "how long `ipcluster status` waits for the controller "
                                                  "to answer", "ipcluster status", flag="--timeout")


@dataclass(kw_only=True)
class ClientSettings:
    """`MultiEngineClient` and `TaskClient` (from the file of `$IPYTHONDIR`, else `~/.ipython`)."""

    shared_memory: bool = setting(True, SWITCH, "move big arrays to and from engines on this host through "
                                                "/dev/shm")
    exit_wait: float = setting(10.0, SECONDS_OR_OFF, "how long a script's exit waits for the controller to "
                                                     "store the tasks run() returned, before a courier "
                                                     "process takes them over")
    result_cache: int = setting(100 * 10**6, SIZE, "how much of the finished results a TaskClient's barrier "
                                                   "fetches and keeps, so that get_task_result after it "
                                                   "needs no round trip; the oldest go first")
    forward_interrupts: bool = setting(True, SWITCH, "Ctrl-C during a blocking call (execute, %px, map, barrier) "
                                                     "also interrupts that call's code on its engines and "
                                                     "aborts the tasks it waits for that have not finished")


@dataclass(kw_only=True)
class LogSettings:
    """`ipcontroller`, `ipengine` and the swarm, for their files in `DIR/log/` (also under `ipcluster`)."""

    max_size: int = setting(10 * 10**6, SIZE, "past this size a log file is rotated: NAME.log becomes NAME.log.1, "
                                              "and so on (0: never)")
    backups: int = setting(5, COUNT, "how many rotated files of a log are kept; older ones are removed")


SECTIONS = {"controller": ControllerSettings, "engine": EngineSettings, "cluster": ClusterSettings,
            "client": ClientSettings, "log": LogSettings}
READS = {"ipcontroller": "controller", "ipengine": "engine", "ipcluster": "cluster",
         "ipcluster stop": "cluster", "ipcluster status": "cluster"}  # the section each program reads
SHOWN = ("ipcontroller", "ipengine", "ipcluster")  # the programs with --show-config


def _declared(section, f):
    meta = f.metadata
    flag = meta["flag"] or ("--no-" if f.default is True else "--") + f.name.replace("_", "-")
    return Setting(section, f.name, f.type, f.default, meta["kind"], meta["help"], meta["programs"], flag)


SETTINGS = [_declared(section, f) for section, cls in SECTIONS.items() for f in fields(cls)]


def of_section(section):
    return [s for s in SETTINGS if s.section == section]


def taken_by(program):
    """The settings ``program`` takes a flag for (some belong to the section of a program it starts)."""
    return [s for s in SETTINGS if program in s.programs]


def find(key):
    """The setting called ``key`` (``section.name``)."""
    for s in SETTINGS:
        if s.key == key:
            return s
    raise KeyError(f"no setting {key}")


def _toml(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else repr(value)


def markdown():
    """``docs/settings.md``: every setting, its flags, variable, default and rule, and a whole kernel.toml."""
    out = ["# Settings", "",
           "Written by `python -m kernel.settings` from the declarations in `kernel/settings.py`",
           "(a test checks that it matches them).", "",
           "Every timeout, limit and default of `ipcontroller`, `ipengine`, `ipcluster` and the",
           "clients is a setting. Each takes its value from, in rising order of precedence:", "",
           "1. its default, below;",
           "2. `DIR/kernel.toml` (`DIR` is `--ipythondir`, else `$IPYTHONDIR`, else `~/.ipython`),",
           "   a TOML file with one table per section;",
           "3. the environment variable `KERNEL_<SECTION>_<NAME>`;",
           "4. the program's flag, where it has one.", "",
           "`ipcontroller --show-config`, `ipengine --show-config` and `ipcluster --show-config` print",
           "each value of their section and where it came from. A bad value, an unknown key or an",
           "unknown table stops the program at start with one line naming the key, the value and",
           "what is allowed. `ipcluster` passes its `--scheme` to the controller and its",
           "`--memory-limit` to the engines (`--controller-args` and `--engine-args` pass any",
           "other flag); the processes it starts read the same `DIR/kernel.toml` and environment.", "",
           "Seconds may have a fraction (`0.5`). Sizes are bytes, or a number with a unit: `MB`,",
           "`GB` are powers of 1000, `MiB`, `GiB` powers of 1024. A switch is `true` or `false`",
           "in the file; in a variable also `1`/`0`, `yes`/`no`, `on`/`off`.", ""]
    for section, cls in SECTIONS.items():
        out += [f"## [{section}]", "", f"Read by {cls.__doc__}", "",
                "| key | default | allowed | flag | variable | meaning |", "|---|---|---|---|---|---|"]
        for s in of_section(section):
            flags = ", ".join(f"`{program} {s.flag}`" for program in s.programs) or ""
            out.append(f"| `{s.name}` | {s.shown(s.default)} | {s.kind.rule} | {flags} | `{s.env}` | {s.help} |")
        out.append("")
    out += ["## A whole kernel.toml", "", "Every setting at its default:", "", "```toml"]
    for section in SECTIONS:
        out.append(f"[{section}]")
        out += [f"{s.name} = {_toml(s.default)}  # {s.help}" for s in of_section(section)]
        out.append("")
    out[-1] = "```"
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
