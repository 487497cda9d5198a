"""Restarting engines that die, decided without processes: a fake launcher and a fake clock."""

import signal
from types import SimpleNamespace

import pytest

from kernel.engine.memory import EXIT_OVER_LIMIT
from kernel.launchers.supervisor import Supervisor, why
from kernel.retry import RestartBudget


class FakeLauncher:
    restartable = True

    def __init__(self, n):
        self.next_pid = 100
        self.procs = [self._proc() for _ in range(n)]

    def _proc(self):
        self.next_pid += 1
        return SimpleNamespace(pid=self.next_pid, returncode=None)

    def die(self, slot, returncode):
        self.procs[slot].returncode = returncode

    def exited(self):
        return [(i, p) for i, p in enumerate(self.procs) if p.returncode is not None]

    def restart(self, slot):
        self.procs[slot] = self._proc()
        return self.procs[slot]


def supervise(n=2, limit=3, window=60.0, alive=True):
    launcher, clock, logged = FakeLauncher(n), SimpleNamespace(now=0.0), []
    supervisor = Supervisor(launcher, limit, window, log=logged.append, controller_alive=lambda: alive,
                            clock=lambda: clock.now)
    return launcher, supervisor, clock, logged


def test_a_killed_engine_is_restarted_and_the_restart_logged_with_the_signal():
    launcher, supervisor, clock, logged = supervise()
    launcher.die(1, -signal.SIGKILL)
    supervisor.check()
    assert launcher.procs[1].pid == 103 and launcher.procs[1].returncode is None
    assert logged == ["engine process 102 (slot 1) was killed by SIGKILL: restarted as pid 103"]
    assert supervisor.history == [{"slot": 1, "pid": 102, "returncode": -9, "reason": "was killed by SIGKILL",
                                   "restarted": 103, "why_not": None}]
    supervisor.check()
    assert len(supervisor.history) == 1  # each death is handled once


def test_an_engine_asked_to_stop_stays_stopped():
    launcher, supervisor, clock, logged = supervise()
    launcher.die(0, 0)  # mec.kill(), or SIGTERM
    supervisor.check()
    supervisor.check()
    assert launcher.procs[0].pid == 101
    assert logged == ["engine process 101 (slot 0) exited with code 0: not restarted: it was asked to stop"]


def test_the_limit_counts_restarts_per_slot_within_the_window():
    launcher, supervisor, clock, logged = supervise(limit=2, window=60.0)
    for _ in range(2):
        launcher.die(0, -signal.SIGSEGV)
        supervisor.check()
        clock.now += 10
    launcher.die(1, 1)  # another slot has its own budget
    supervisor.check()
    assert [e["restarted"] is not None for e in supervisor.history] == [True, True, True]
    launcher.die(0, -signal.SIGSEGV)
    supervisor.check()
    assert supervisor.history[-1]["why_not"] == ("it was restarted 2 times within 60 s "
                                                 "(--restart-limit, --restart-window)")
    assert logged[-1].startswith("engine process 104 (slot 0) was killed by SIGSEGV: not restarted: ")
    clock.now += 100
    supervisor.check()
    assert len(supervisor.history) == 4  # given up: not restarted later either


def test_a_slot_may_restart_again_once_its_old_restarts_leave_the_window():
    budget = RestartBudget(2, 60.0)
    assert budget.allow(0, 0.0) and budget.allow(0, 30.0)
    assert not budget.allow(0, 59.0)
    assert budget.allow(0, 61.0)  # the one at 0.0 has left the window
    assert not budget.allow(0, 62.0)


@pytest.mark.parametrize("limit, alive, why_not", [(0, True, "restarts are off"),
                                                   (3, False, "the controller is gone")])
def test_no_restart_when_off_or_without_a_controller(limit, alive, why_not):
    launcher, supervisor, clock, logged = supervise(limit=limit, alive=alive)
    launcher.die(0, -signal.SIGKILL)
    supervisor.check()
    assert supervisor.history[0]["why_not"] == why_not and launcher.procs[0].pid == 101


@pytest.mark.parametrize("returncode, text", [
    (-signal.SIGKILL, "was killed by SIGKILL"), (-signal.SIGSEGV, "was killed by SIGSEGV"),
    (EXIT_OVER_LIMIT, "exited with code 3 (it stayed past its memory limit)"), (1, "exited with code 1"),
])
def test_why(returncode, text):
    assert why(returncode) == text
