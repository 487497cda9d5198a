"""Tasks that keep an engine busy until the test releases them, on any cluster of the harness."""

from pathlib import Path

from kernel import client

HOLD_CODE = """\
import os as _os, time as _time, pathlib as _pathlib
_hold = _pathlib.Path(hold_dir)
(_hold / f"started-{id}-{_os.getpid()}-{_time.time_ns()}").touch()
while not (_hold / "release").exists():
    _time.sleep(0.002)
"""


class Hold:
    """Tasks that keep an engine busy until ``release()``; each attempt leaves a marker file.

    The markers tell which engine (and process) runs an attempt, so a test
    can kill exactly that engine. ``backend`` is a ``World`` or a
    ``ProcessBackend``: it waits (``run_until``) and kills (``kill``).
    """

    def __init__(self, backend, directory):
        self.backend = backend
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.seen = set()

    def task(self, code="", pull=None, **options):
        """A StringTask that holds, then runs ``code``."""
        return client.StringTask(HOLD_CODE + code, pull=pull, push={"hold_dir": str(self.dir)}, **options)

    def release(self):
        (self.dir / "release").touch()

    def attempts(self):
        """``[(engine id, pid)]`` of every attempt started so far, oldest first."""
        found = []
        for path in self.dir.glob("started-*"):
            _, eid, pid, stamp = path.name.split("-")
            found.append((int(stamp), int(eid), int(pid), path.name))
        return [(eid, pid) for _, eid, pid, _ in sorted(found)]

    def wait_new_attempt(self):
        """The ``(engine id, pid)`` of an attempt not returned before, waiting for one."""
        def fresh():
            names = sorted(p.name for p in self.dir.glob("started-*"))
            return [n for n in names if n not in self.seen]

        self.backend.run_until(lambda: fresh(), what="a held task to start on an engine")
        name = fresh()[0]
        self.seen.add(name)
        _, eid, pid, _ = name.split("-")
        return int(eid), int(pid)

    def kill_running(self):
        """Kill the engine that runs the next attempt; return its id."""
        eid, pid = self.wait_new_attempt()
        self.backend.kill(eid, pid)
        return eid
