"""What the suites ask of every cluster of the harness, in process or not."""

LEASE_WAIT = 1.0  # seconds a request waits for a leased task that does not come (the default is 60)


class Backend:
    """A cluster the contract suites drive: ``name``, engines kept at ``0..n-1``, waits on conditions.

    A subclass says which engines run (``live_engines``), which are
    registered (``ids``), how one more starts (``start_engine``) and how to
    wait (``run_until``: in real time, or in the World's virtual time).
    """

    name = None

    def ids(self):
        raise NotImplementedError

    def live_engines(self):
        raise NotImplementedError

    def start_engine(self):
        raise NotImplementedError

    def run_until(self, condition, what="a condition"):
        raise NotImplementedError

    def ensure_engines(self, n):
        """Engines ``0..n-1`` registered: departed ones gone, missing ones started."""
        self.run_until(lambda: len(self.live_engines()) == len(self.ids()), what="departed engines to leave")
        for _ in range(n - len(self.live_engines())):
            self.start_engine()
        self.run_until(lambda: self.ids() == list(range(n)), what=f"{n} engines to register")
