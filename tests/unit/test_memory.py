"""The engine's memory watch, driven by hand: a fake engine, clock and resident size."""

from types import SimpleNamespace

import pytest

from kernel.engine import replies
from kernel.engine.memory import (
    EXIT_OVER_LIMIT,
    MemoryWatch,
    Resident,
    format_size,
    prefer_for_oom_killer,
)
from kernel.errors import MemoryLimitError
from kernel.wire import serialize

LIMIT = 200 * 10**6
HEADER = {"op": "call", "cid": 7, "method": "execute"}


class FakeEngine:
    def __init__(self):
        self.interpreter = SimpleNamespace(engine_id=3)
        self.interrupts = 0
        self.stopped = None
        self.exit_code = 0

    def interrupt(self):
        self.interrupts += 1

    def on_stopped(self, reason):
        self.stopped = reason
        self.exit_code = 1


class Fixture:
    def __init__(self):
        self.size = 50 * 10**6
        self.now = 100.0
        self.exits = []
        self.engine = FakeEngine()
        self.watch = MemoryWatch(self.engine, LIMIT, resident=lambda: self.size, clock=lambda: self.now,
                                 exit=self.exits.append, grace=2.0)


@pytest.fixture
def f():
    return Fixture()


def interrupted_reply():
    """The reply an engine builds when the interrupt stops user code in grow()."""
    def grow():
        raise KeyboardInterrupt("interrupted by the controller")

    try:
        grow()
    except KeyboardInterrupt as e:
        return replies.failure(HEADER, e)


def test_nothing_happens_under_the_limit_or_between_commands(f):
    f.watch.begin()
    f.watch.check()
    f.size = 3 * LIMIT
    f.watch.end(HEADER, {"status": "ok"}, [])
    f.watch.check()  # past the limit, but no command runs
    assert f.engine.interrupts == 0 and f.exits == []


def test_past_the_limit_the_command_is_interrupted_and_ends_the_engine_if_it_runs_on(f):
    f.watch.begin()
    f.size = LIMIT + 1
    f.watch.check()
    assert f.engine.interrupts == 1
    f.now += 1.0
    f.watch.check()
    assert f.engine.interrupts == 2 and f.exits == []  # caught the first one: interrupted again
    f.now += 1.5
    f.watch.check()
    assert f.exits == [EXIT_OVER_LIMIT]


def test_an_interrupted_command_fails_with_a_memory_limit_error_and_the_engine_stays(f):
    f.watch.begin()
    f.size = 290 * 10**6
    f.watch.check()
    f.size = 60 * 10**6  # the command's memory went with its frames
    reply, out = f.watch.end(HEADER, *interrupted_reply())
    assert reply["status"] == "error" and reply["etype"] == "MemoryLimitError"
    assert reply["message"] == "engine 3 grew to 290 MB, past its memory limit of 200 MB: the command was stopped"
    assert "in grow" in reply["traceback"]  # where the code was stopped
    assert reply["traceback"].endswith(f"MemoryLimitError: {reply['message']}\n")
    exc = serialize.loads(out)
    assert isinstance(exc, MemoryLimitError) and isinstance(exc, MemoryError)
    assert f.engine.stopped is None


def test_an_engine_that_stays_past_the_limit_restarts_whatever_the_reply(f):
    f.watch.begin()
    f.size = 320 * 10**6
    f.watch.check()
    f.size = 360 * 10**6
    reply, out = f.watch.end(HEADER, {"op": "reply", "cid": 7, "status": "ok", "value": None}, [])
    assert reply["etype"] == "MemoryLimitError"
    assert reply["message"] == ("engine 3 grew to 360 MB, past its memory limit of 200 MB, and is still at "
                                "360 MB after the command: it restarts, and its namespace is lost")
    assert f.engine.stopped == reply["message"] and f.engine.exit_code == EXIT_OVER_LIMIT


def test_a_command_that_finished_first_and_gave_the_memory_back_keeps_its_reply(f):
    f.watch.begin()
    f.size = LIMIT + 1
    f.watch.check()
    f.size = LIMIT
    ok = ({"op": "reply", "cid": 7, "status": "ok", "value": 1}, [])
    assert f.watch.end(HEADER, *ok) == ok


def test_a_command_that_ended_past_the_limit_unseen_restarts_the_engine(f):
    f.watch.begin()
    f.size = 800 * 10**6  # x = bytearray(...): one C call, over before the thread looked
    reply, _ = f.watch.end(HEADER, {"op": "reply", "cid": 7, "status": "ok", "value": None}, [])
    assert reply["message"].startswith("engine 3 grew to 800 MB, past its memory limit of 200 MB, and is still")
    assert f.engine.exit_code == EXIT_OVER_LIMIT


def test_the_reply_s_own_bytes_do_not_count(f):
    f.watch.begin()
    f.size = 300 * 10**6  # 150 MB kept, 150 MB of pickled reply about to be sent
    reply = ({"op": "reply", "cid": 7, "status": "ok"}, [b"head", bytes(150 * 10**6)])
    assert f.watch.end(HEADER, *reply) == reply
    assert f.engine.stopped is None


def test_a_task_keeps_its_times(f):
    f.watch.begin()
    f.size = LIMIT + 1
    f.watch.check()
    f.size = 0
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as e:
        reply, out = replies.failure(HEADER, e, started=1.0, finished=2.0)
    reply, _ = f.watch.end(HEADER, reply, out)
    assert (reply["etype"], reply["started"], reply["finished"]) == ("MemoryLimitError", 1.0, 2.0)


def test_the_next_command_starts_afresh(f):
    f.watch.begin()
    f.size = LIMIT + 1
    f.watch.check()
    f.now += 5
    f.size = 0
    f.watch.end(HEADER, *interrupted_reply())
    f.watch.begin()
    f.size = LIMIT + 1
    f.watch.check()  # a new command: interrupted, not ended for the last one's grace
    assert f.exits == [] and f.engine.interrupts == 2


def test_resident_counts_what_this_process_allocates():
    resident = Resident()
    before = resident()
    block = bytearray(50 * 2**20)
    assert resident() - before > 40 * 2**20
    del block


def test_oom_score_adj_is_raised_never_lowered(tmp_path):
    path = tmp_path / "oom_score_adj"
    path.write_text("0\n")
    prefer_for_oom_killer(500, path)
    assert path.read_text() == "500"
    path.write_text("800")
    prefer_for_oom_killer(500, path)
    assert path.read_text() == "800"


@pytest.mark.parametrize("size, text", [(200 * 10**6, "200 MB"), (1_500_000_000, "1.5 GB"), (2**31, "2.147 GB"),
                                        (999, "999 bytes"), (64_000, "64 kB")])
def test_format_size(size, text):
    assert format_size(size) == text
