"""The one CPython-specific call the engines make: fails if a Python release breaks it."""

import threading
import time

from kernel.engine import asyncexc


class Stopped(Exception):
    pass


def spinner(started, outcome, stop_after=30.0):
    """Runs Python code until an exception arrives (or gives up), and records which."""
    started.set()
    deadline = time.monotonic() + stop_after
    try:
        while time.monotonic() < deadline:
            pass
        outcome.append("not stopped")
    except Stopped:
        outcome.append("stopped")


def test_an_exception_raised_in_a_thread_stops_its_loop():
    started, outcome = threading.Event(), []
    thread = threading.Thread(target=spinner, args=(started, outcome))
    thread.start()
    started.wait(10)
    assert asyncexc.raise_in(thread.ident, Stopped)
    thread.join(30)
    assert outcome == ["stopped"]


def test_a_cleared_exception_is_never_raised():
    started, outcome, go = threading.Event(), [], threading.Event()

    def waits_then_spins():
        go.wait(10)  # a blocking call: an exception set meanwhile waits for the next bytecode
        spinner(started, outcome, stop_after=0.2)

    thread = threading.Thread(target=waits_then_spins)
    thread.start()
    assert asyncexc.raise_in(thread.ident, Stopped)
    asyncexc.clear(thread.ident)
    go.set()
    thread.join(30)
    assert outcome == ["not stopped"]


def test_no_such_thread_is_said():
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    assert not asyncexc.raise_in(thread.ident, Stopped)
