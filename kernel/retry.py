"""Retry policy: a pure function from attempt number to delay.

Exponential backoff with full jitter, capped, so many engines that lost the
same controller do not come back in lockstep.
"""

import random


def backoff_policy(initial=0.1, factor=2.0, maximum=5.0, jitter=random.random):
    def policy(attempt):
        return min(initial * factor ** attempt, maximum) * (0.5 + jitter() / 2)

    return policy
