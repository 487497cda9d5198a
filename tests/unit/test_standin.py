"""When an engine's stand-in thread takes its connection over, and that it always gives it back.

That it serves the connection meanwhile (heartbeats, interrupts, a big
reply, streamed output) is tested on real engines: tests/integration/
test_liveness.py, test_multiengine_processes.py, test_interrupt_forwarding.py
and the live output contract suite.
"""

from types import SimpleNamespace

import pytest

from kernel.engine.standin import StandIn
from tests.harness import wait_for


@pytest.fixture
def standin_after():
    """A started stand-in for an engine with no connection (it only waits to be called back), ``after`` s."""
    def make(after):
        standin = StandIn(SimpleNamespace(connector=SimpleNamespace(protocol=None), stream=None), after)
        standin.start()
        return standin

    return make


def test_a_run_shorter_than_its_wait_is_left_to_the_reactor(standin_after):
    standin = standin_after(60.0)
    standin.leave()
    assert standin.watching
    assert standin.back() is False and not standin.serving


def test_a_run_past_its_wait_is_served_until_the_reactor_is_back(standin_after):
    standin = standin_after(0.01)
    standin.leave()
    wait_for(lambda: standin.serving, what="the stand-in to take the connection")
    assert standin.back() is True
    assert not standin.serving


def test_it_stops_looking_once_no_run_begins(standin_after):
    standin = standin_after(0.01)
    standin.leave()
    standin.back()
    wait_for(lambda: not standin.watching, what="the stand-in to sleep")
    standin.leave()  # wakes it again
    assert standin.watching
    wait_for(lambda: standin.serving, what="the stand-in to take the connection")
    assert standin.back() is True


def test_runs_that_start_as_it_goes_to_sleep_are_still_watched(standin_after):
    standin = standin_after(0.001)
    for _ in range(3000):  # short runs, each racing the stand-in's looks and sleeps
        standin.leave()
        standin.back()
    standin.leave()
    wait_for(lambda: standin.serving, what="the stand-in to take the connection")
    assert standin.back() is True
