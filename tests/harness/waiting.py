"""Waiting on a condition with a deadline: the one way the tests wait for something to happen."""

import time

from kernel.errors import ConnectionLost

STARTUP_TIMEOUT = 30.0


def wait_for(condition, timeout=STARTUP_TIMEOUT, interval=0.02, what="condition"):
    """Poll ``condition()`` until it returns a truthy value, and return that value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def until_answered(call, timeout=60):
    """``call()``'s value, repeating it while the controller is away (ConnectionLost, refused)."""
    box = []

    def attempt():
        try:
            box.append(call())
            return True
        except (ConnectionLost, ConnectionRefusedError):
            return False

    wait_for(attempt, timeout, interval=0.05, what="the controller to answer")
    return box[0]
