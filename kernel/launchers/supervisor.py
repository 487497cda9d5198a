"""Engines that die come back: a thread that restarts a launcher's engines, within a limit.

An engine's exit status says whether it was asked to stop. It exits 0 only
when told to: ``mec.kill()``, or SIGTERM (``ipcluster stop``, Ctrl-C at
ipcluster, ``kill PID``). Anything else is a death: a signal (SIGKILL, the
kernel's OOM killer, SIGSEGV), ``EXIT_OVER_LIMIT`` (it left to be restarted
under its memory limit), or any other status. The engine of that slot is
started again, unless the slot has been restarted ``limit`` times within the
last ``window`` seconds, or the controller is gone. While ipcluster stops,
this thread is stopped first, so the engines it stops stay stopped.

Only launchers that start each engine as a child of this process can
restart one (``restartable``: the local launcher). An MPI world cannot take
a new rank, and ssh engines and batch jobs are not our children.
"""

import signal
import threading
import time

from kernel.engine.memory import EXIT_OVER_LIMIT
from kernel.retry import RestartBudget

PERIOD = 0.2  # seconds between looks at the engines


def why(returncode):
    """Why an engine process ended, in words, from its exit status (negative: the signal)."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    if returncode == EXIT_OVER_LIMIT:
        return f"exited with code {returncode} (it stayed past its memory limit)"
    return f"exited with code {returncode}"


class Supervisor:
    """Restarts the dead engines of ``launcher``; ``log(message)`` hears of each death.

    ``history`` holds one dict per death: slot, pid, reason, and ``restarted``
    (the new pid, or None with ``why_not``).
    """

    def __init__(self, launcher, limit, window, log=None, controller_alive=lambda: True,
                 clock=time.monotonic, period=PERIOD):
        self.launcher = launcher
        self.budget = RestartBudget(limit, window)
        self.log = log or (lambda message: None)
        self.controller_alive = controller_alive
        self.clock = clock
        self.period = period
        self.history = []
        self.done = set()  # slots whose engine stays stopped
        self._stop = threading.Event()
        self._thread = None

    def check(self):
        """Look once at every engine; restart those that died."""
        for slot, proc in self.launcher.exited():
            if slot not in self.done:
                self._handle(slot, proc.pid, proc.returncode)

    def _handle(self, slot, pid, returncode):
        event = {"slot": slot, "pid": pid, "returncode": returncode, "reason": why(returncode),
                 "restarted": None, "why_not": None}
        self.history.append(event)
        what = f"engine process {pid} (slot {slot}) {event['reason']}"
        budget = self.budget
        if returncode == 0:
            event["why_not"] = "it was asked to stop"
        elif not budget.limit:
            event["why_not"] = "restarts are off"
        elif not self.controller_alive():
            event["why_not"] = "the controller is gone"
        elif not budget.allow(slot, self.clock()):
            event["why_not"] = (f"it was restarted {budget.limit} times within {budget.window:g} s "
                                "(--restart-limit, --restart-window)")
        else:
            event["restarted"] = self.launcher.restart(slot).pid
            self.log(f"{what}: restarted as pid {event['restarted']}")
            return
        self.done.add(slot)
        self.log(f"{what}: not restarted: {event['why_not']}")

    # -- the thread ------------------------------------------------------------------

    def start(self):
        # Engines it restarts get the die-with-parent signal when this thread ends
        # (Linux ties it to the thread that forked): it ends only when the cluster stops.
        self._thread = threading.Thread(target=self._run, name="engine-supervisor", daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.period):
            try:
                self.check()
            except Exception as e:  # a failed restart must not end the supervision of the others
                self.log(f"could not restart an engine: {type(e).__name__}: {e}")

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
