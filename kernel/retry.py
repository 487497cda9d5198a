"""Retry policy: a pure function from attempt number to delay; and how often something may restart.

Exponential backoff with full jitter, capped, so many engines that lost the
same controller do not come back in lockstep. A restart budget keeps a
process that dies at once from being restarted forever (engines under
ipcluster, the controller's relays).
"""

import random


def backoff_policy(initial=0.1, factor=2.0, maximum=5.0, jitter=random.random):
    def policy(attempt):
        return min(initial * factor ** attempt, maximum) * (0.5 + jitter() / 2)

    return policy


class RestartBudget:
    """At most ``limit`` restarts per slot within any ``window`` seconds (limit 0: none)."""

    def __init__(self, limit, window):
        self.limit = limit
        self.window = window
        self.times = {}  # slot -> times of its restarts within the window

    def allow(self, slot, now):
        """Count one restart of ``slot`` at ``now`` and return True, or return False if over the limit."""
        recent = [t for t in self.times.get(slot, ()) if now - t < self.window]
        if len(recent) >= self.limit:
            self.times[slot] = recent
            return False
        self.times[slot] = [*recent, now]
        return True
