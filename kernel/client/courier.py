"""Tasks that outlive their script: the spool and the courier.

A task that ``run()`` gave an id to must reach the controller's store even if
the script ends while the controller is down. At exit the client waits for
the controller a while (``Pipeline``); what is still unanswered then is
written to a spool file (``DIR/spool/*.spool``, private to its owner) and a
courier process, detached from the script, sends it again until the
controller has stored every task, then removes the file. The courier holds a
lock on its file: a spool file nobody holds (its courier died, the machine
restarted) is picked up by the next ``TaskClient`` made on this machine. A
courier that gives up (after a week, or at once if its FURL file is gone
with its cluster directory) renames the file ``*.undelivered`` and says so in
its log, so that no courier is started for it again.
"""

import fcntl
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

from twisted.logger import Logger, FileLogObserver, formatEvent, globalLogBeginner

from kernel import errors, paths

RETRY_FIRST = 0.5  # seconds before the first retry; each next one doubles, up to RETRY_MOST
RETRY_MOST = 30.0
DELIVER_FOR = 7 * 24 * 3600.0  # a courier gives up after a week without a controller
GAVE_UP = ".undelivered"  # the suffix a spool file a courier gave up on gets instead of .spool

log = Logger()


def spool_dir():
    path = paths.ipython_dir() / "spool"
    path.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def spool(source, tasks):
    """Write ``tasks`` (``(taskid, header, buffers)``) for ``source`` (a FURL or its file) and start a courier."""
    directory = spool_dir()
    path = directory / f"{os.getpid()}-{time.time_ns()}.spool"
    data = pickle.dumps({"source": source, "tasks": [(t, h, [bytes(b) for b in bs]) for t, h, bs in tasks]})
    paths.write_private(path, data)
    start_courier(path)
    return path


def start_courier(path):
    """A process of its own, in a session of its own: the script may end at once."""
    logs = paths.log_dir(paths.ipython_dir())
    with open(logs / f"courier-{Path(path).stem}.log", "ab") as out:
        subprocess.Popen([sys.executable, "-m", "kernel.client.courier", str(path)], stdin=subprocess.DEVNULL,
                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)


def resume_orphans():
    """Start a courier for each spool file no courier holds (its own died, or the machine restarted)."""
    directory = paths.ipython_dir() / "spool"
    for path in sorted(directory.glob("*.spool")) if directory.is_dir() else ():
        if _unheld(path):
            start_courier(path)


def _unheld(path):
    try:
        with open(path, "rb") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, FileNotFoundError):
        return False
    return True


def deliver(path, clock=time.monotonic, sleep=time.sleep):
    """Send every task of the spool file at ``path`` until the controller has stored them all."""
    from kernel.client.connection import Connection

    with open(path, "rb") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # another courier has it
        spooled = pickle.load(held)
        left = {taskid: (header, buffers) for taskid, header, buffers in spooled["tasks"]}
        log.info("courier: {n} tasks to deliver from {path}", n=len(left), path=str(path))
        deadline, delay, connection = clock() + DELIVER_FOR, RETRY_FIRST, None
        why = f"no controller for {DELIVER_FOR:g} s"
        while left and clock() < deadline:
            try:
                connection = connection or Connection(spooled["source"], "tc")
                for taskid, (header, buffers) in sorted(left.items()):
                    _send_one(connection, taskid, header, buffers)
                    del left[taskid]
            except errors.BadFURLError as e:  # its FURL file went with its cluster directory
                why = str(e)
                break
            except (errors.ConnectionLost, OSError) as e:
                log.info("courier: the controller is not there ({e}); again in {d:g} s", e=e, d=delay)
                connection = None
                sleep(delay)
                delay = min(RETRY_MOST, 2 * delay)
        if left:
            aside = path.with_suffix(GAVE_UP)
            os.replace(path, aside)
            log.error("courier: gave up on tasks {ids} ({why}); they are kept in {aside}",
                      ids=sorted(left), why=why, aside=str(aside))
            return 1
        os.unlink(path)
        log.info("courier: every task of {path} is stored", path=str(path))
        return 0


def _send_one(connection, taskid, header, buffers):
    try:
        connection.call(header, buffers)
    except errors.KernelError as e:
        if isinstance(e, errors.ConnectionLost):
            raise
        log.error("courier: the controller refused task {id}: {e}", id=taskid, e=e)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    globalLogBeginner.beginLoggingTo([FileLogObserver(sys.stdout, lambda e: formatEvent(e) + "\n")],
                                     redirectStandardIO=False)
    return deliver(Path(argv[0]))


if __name__ == "__main__":
    sys.exit(main())
