"""The local engines' fork server: one process imports an engine's modules once, and each engine is forked from it.

An ipengine program spends most of its start-up importing (Twisted, the TLS
and pickling libraries) and most of its memory holding what it imported.
Forked from a process that has imported them, an engine runs within
milliseconds, and shares those pages with its siblings, copy-on-write, for as
long as none of them writes to them (``gc.freeze`` keeps the collector from
doing so). ``docs/scale.md`` has the figures.

``ipengine --fork-server OPTIONS`` runs it; the local launcher
(``kernel.launchers.forked``) talks to it on its stdin and stdout, a JSON
object a line:

- ``{"spawn": slot, "output": path, "die_with_parent": bool}``: fork an
  engine (``ipengine OPTIONS``, stdout and stderr appended to ``path``, in a
  session of its own); answered ``{"spawned": slot, "pid": pid}`` or
  ``{"failed": slot, "error": text}``;
- ``{"exited": pid, "code": code}``: one of its engines ended (``code`` as
  Popen's ``returncode``: ``-N`` for signal N).

It forks only while it has one thread and never runs a reactor. When its
stdin closes, it exits; the engines it forked run on.
"""

import gc
import json
import os
import random
import select
import signal
import sys
import traceback


def preload():
    """Import what every engine imports, short of installing the reactor (which opens files)."""
    import twisted.internet.epollreactor  # noqa: F401
    import kernel.engine.memory  # noqa: F401
    import kernel.engine.runner  # noqa: F401
    import kernel.wire.serialize  # noqa: F401


def serve(engine_argv, engine_main, requests=0, events=1):
    """Fork an engine, ``engine_main(engine_argv)``, per request read from fd ``requests``, until it closes.

    Returns 0 in the server; in an engine it never returns, but raises
    SystemExit with the engine's exit code once the engine is done.
    """
    preload()
    gc.freeze()  # what was imported stays untouched by the collector in every engine
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    pending = b""
    while True:
        ready, _, _ = select.select([requests, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
            _reap(events)
        if requests not in ready:
            continue
        data = os.read(requests, 65536)
        if not data:
            return 0  # the launcher is gone
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            try:
                pid = os.fork()
            except OSError as e:
                _say(events, {"failed": request["spawn"], "error": f"cannot fork: {e.strerror}"})
                continue
            if pid == 0:
                _become_engine(request, (requests, events, wake_r, wake_w))
                raise SystemExit(_run(engine_main, engine_argv))
            _say(events, {"spawned": request["spawn"], "pid": pid})


def _say(fd, event):
    os.write(fd, json.dumps(event).encode() + b"\n")  # one write, under PIPE_BUF: never interleaved


def _reap(events):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _say(events, {"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def _become_engine(request, server_fds):
    """In the child: what a fresh ipengine process would have, as the local launcher starts one."""
    from kernel.launchers import process

    os.setsid()
    if request.get("die_with_parent"):
        process.set_parent_death_signal()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    output = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for fd in server_fds:
        os.close(fd)
    os.dup2(devnull, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(devnull)
    os.close(output)
    random.seed()  # not the server's sequence, shared by every sibling


def _run(engine_main, engine_argv):
    try:
        return engine_main(engine_argv)
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
