"""The progress bar, driven by a fake clock into a StringIO; and the queue_status tables."""

import io

import pytest

from kernel.client import progress
from kernel.client.progress import Progress, progress_bar
from kernel.client.tables import QueueStatus, TaskQueueStatus


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class TTY(io.StringIO):
    def isatty(self):
        return True


def test_plain_bar_counts_rate_and_eta():
    clock, out = Clock(), io.StringIO()
    bar = Progress(10, "map", out, clock, min_interval=0)
    clock.now += 2
    bar.update(4)
    line = out.getvalue()
    assert line.startswith("\rmap: 4/10 [")
    assert " 40% " in line and "2.0/s" in line and "ETA 00:03" in line
    clock.now += 3
    bar.update(10)
    bar.close()
    text = out.getvalue()
    assert text.endswith("\n")
    last = text.rstrip("\n").split("\r")[-1]
    assert last.startswith("map: 10/10 [" + "#" * 30 + "] 100% ") and "in 00:05" in last
    assert "\n" not in text[:-1]  # one line, rewritten in place


def test_plain_bar_never_goes_backwards_nor_past_total():
    bar = Progress(5, stream=io.StringIO(), clock=Clock())
    bar.update(3)
    bar.update(1)
    assert bar.done == 3
    bar.update(99)
    assert bar.done == 5


def test_delay_keeps_short_waits_silent():
    clock, out = Clock(), io.StringIO()
    bar = Progress(3, stream=out, clock=clock, delay=2.0, min_interval=0)
    clock.now += 1
    bar.update(3)
    bar.close()
    assert out.getvalue() == ""
    clock2, out2 = Clock(), io.StringIO()
    bar = Progress(3, stream=out2, clock=clock2, delay=2.0, min_interval=0)
    clock2.now += 2.5
    bar.update(1)
    bar.close()
    assert "1/3" in out2.getvalue()


def test_redraws_are_rate_limited_but_close_shows_the_last_state():
    clock, out = Clock(), io.StringIO()
    bar = Progress(100, stream=out, clock=clock, min_interval=1.0)
    for i in range(1, 50):
        clock.now += 0.01
        bar.update(i)
    assert out.getvalue().count("\r") == 1
    bar.close()
    assert out.getvalue().rstrip("\n").split("\r")[-1].startswith("49/100")


def test_progress_bar_choice(monkeypatch):
    assert progress_bar(False, 10, stream=TTY()) is None
    assert progress_bar(True, 0) is None
    # automatic: nothing in a script (stderr not a terminal), a delayed bar in a terminal
    monkeypatch.setattr(progress, "in_notebook", lambda: False)
    assert progress_bar(None, 10, stream=io.StringIO(), use_tqdm=False) is None
    bar = progress_bar(None, 10, stream=TTY(), use_tqdm=False)
    assert isinstance(bar, Progress) and bar.delay == progress.AUTO_DELAY
    bar = progress_bar(True, 10, stream=io.StringIO(), use_tqdm=False)
    assert isinstance(bar, Progress) and bar.delay == 0
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    assert progress_bar(None, 10, stream=io.StringIO(), use_tqdm=False) is not None
    with pytest.raises(ValueError):
        progress_bar("yes", 10)


def test_tqdm_is_used_when_installed():
    pytest.importorskip("tqdm")
    out = io.StringIO()
    bar = progress_bar(True, 4, "map", stream=out)
    assert not isinstance(bar, Progress)
    bar.update(2)
    bar.update(4)
    bar.close()
    assert "4/4" in out.getvalue()


def test_engine_queue_status_is_a_table_and_still_a_list():
    plain = [(0, {"queue": ["execute('a')", "push(x)"], "pending": "execute('b')"}),
             (1, {"queue": [], "pending": "None"})]
    status = QueueStatus(plain)
    assert status == plain and isinstance(status, list)
    lines = repr(status).splitlines()
    assert lines[0].split() == ["engine", "running", "queued", "queue"]
    assert lines[1].startswith("0 ") and " 2 " in lines[1] and "push(x)" in lines[1]
    assert lines[2].split()[:3] == ["1", "None", "0"]


def test_task_queue_status_is_a_table_and_still_a_dict():
    plain = {"scheduled": 1, "pending": 2, "succeeded": 30, "failed": 0}
    status = TaskQueueStatus(plain)
    assert status == plain and isinstance(status, dict)
    lines = repr(status).splitlines()
    assert lines[0].split() == ["state", "tasks"]
    assert lines[3].split() == ["succeeded", "30"]
    verbose = TaskQueueStatus({"scheduled": [7], "pending": [], "succeeded": list(range(20)),
                               "failed": [], "waiting": {7: "after task 3"}})
    text = repr(verbose)
    assert "20     0, 1, 2" in text and "(20 in all)" in text
    assert "after task 3" in text
