"""A stand-in for the reactor, for the Deferred-returning clients of kernel.client.asyncclient."""

import queue

from twisted.python.failure import Failure


class ReactorCalls:
    """Takes what a client's thread hands to the reactor; runs it when the test waits for a Deferred."""

    def __init__(self):
        self.calls = queue.Queue()

    def callFromThread(self, f, *args, **kwargs):
        self.calls.put((f, args, kwargs))

    def wait(self, d, timeout=60):
        """Run handed-over calls until ``d`` fires; its result, or its exception raised."""
        outcome = []
        d.addBoth(outcome.append)
        while not outcome:
            f, args, kwargs = self.calls.get(timeout=timeout)
            f(*args, **kwargs)
        if isinstance(outcome[0], Failure):
            outcome[0].raiseException()
        return outcome[0]
