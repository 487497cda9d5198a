"""Log files rotate by size, and an event that floods passes at most once a second with a count."""

import pytest
from twisted.internet.task import Clock
from twisted.logger import formatEvent

from kernel.apps import common, logfiles
from kernel.wire.transport import ACCEPT_FAILED


def accept_failed():
    return {"log_format": ACCEPT_FAILED, "port": 4000, "e": OSError(24, "Too many open files")}


def throttled():
    seen, clock = [], Clock()
    return logfiles.Throttle(seen.append, clock), seen, clock


def test_a_flooding_event_passes_once_per_interval_then_with_the_count_of_those_held_back():
    throttle, seen, clock = throttled()
    for _ in range(1000):
        throttle(accept_failed())
    assert len(seen) == 1 and formatEvent(seen[0]) == "cannot accept a connection on port 4000: [Errno 24] " \
                                                      "Too many open files"
    clock.advance(logfiles.INTERVAL)
    assert len(seen) == 2 and seen[1]["log_repeats"] == 999
    assert formatEvent(seen[1]).endswith("Too many open files (and 999 more like it in 1 s)")
    clock.advance(logfiles.INTERVAL)  # the flood is over: nothing more to say
    assert len(seen) == 2 and clock.getDelayedCalls() == []
    throttle(accept_failed())
    assert len(seen) == 3  # a new one passes at once


def test_other_events_pass_untouched_however_many():
    throttle, seen, clock = throttled()
    events = [{"log_format": "engine {id} registered", "id": i} for i in range(100)]
    for event in events:
        throttle(event)
    assert seen == events and clock.getDelayedCalls() == []


def test_a_log_file_rotates_past_its_size_and_keeps_its_backups(tmp_path):
    path = tmp_path / "ipcontroller-1.log"
    log = logfiles.open_log(str(path), 1000, 2)
    line = "x" * 99 + "\n"
    for _ in range(100):  # 10,000 bytes: rotated 9 times
        log.write(line)
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ipcontroller-1.log", "ipcontroller-1.log.1",
                                                          "ipcontroller-1.log.2"]
    assert all(p.stat().st_size <= 1000 for p in tmp_path.iterdir())


def test_a_log_file_appends_to_what_is_there(tmp_path):
    path = tmp_path / "ipengine-1.log"
    path.write_text("before\n")
    log = logfiles.open_log(str(path), 0, 5)
    log.write("after\n")
    log.close()
    assert path.read_text() == "before\nafter\n"


def test_a_bad_log_setting_stops_the_program_at_start_naming_it(tmp_path):
    (tmp_path / "kernel.toml").write_text("[log]\nmax_size = 'lots'\n")
    with pytest.raises(common.UsageError, match="log.max_size = 'lots' is not allowed"):
        common.start_logging(str(tmp_path / "x.log"), tmp_path, Clock())
