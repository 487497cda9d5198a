"""Which engines share this client's host, so that big arrays can go through shared memory.

Engines tell the controller their ``shm.host_key()`` when they register; the
client compares it with its own. It asks afresh for every call that has a big
buffer to send: engine ids are reused by replacement engines, and a ticket
is withdrawn once the process it was made for is gone, so a stale pid would
withdraw tickets before the new engine could take them.
"""

import os

from kernel.wire import shm


class SameHost:
    """This client's host key (None: shared memory off) and what the controller says of the engines'.

    ``engine_info()`` asks the controller (``MultiEngineClient.engine_info``).
    """

    def __init__(self, engine_info, enabled):
        self.engine_info = engine_info
        self.key = shm.host_key() if enabled else None

    def engines(self, targets):
        """``(ids, pids)``: the target ids ('all' resolved) and the pid of each engine on this host.

        The pid is None for an engine elsewhere (or with shared memory off),
        and for an id that is not registered.
        """
        known = {e["id"]: e for e in self.engine_info()["engines"]}
        if targets == "all":
            ids = sorted(known)
        else:
            ids = [targets] if isinstance(targets, int) else list(targets)
        pids = []
        for eid in ids:
            engine = known.get(eid, {})
            same = self.key is not None and engine.get("host_key") == self.key
            pids.append(engine.get("pid") if same and shm.is_pid(engine.get("pid")) else None)
        return ids, pids

    def pull_args(self, args):
        """A pull's ``args``, asking engines on this host to answer through shared memory."""
        if self.key is None:
            return args
        return {**args, "shared_memory": {"host_key": self.key, "pid": os.getpid()}}
