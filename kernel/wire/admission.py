"""Connections that have not authenticated yet: how many one address may hold, and how many in all.

Until its greeting names a known swissnum, a connection is anyone's, and
each costs the controller a file descriptor: one local peer holding a
thousand idle connections used to take every descriptor, and with them the
place of every engine and client. ``Admission`` counts a connection from
accept() until it authenticates or closes. Legitimate peers authenticate
within a round trip, and often share the address of a hostile one (every
local user is 127.0.0.1), so the caps close connections that have waited,
never a new one that may be about to authenticate:

- **Per address**, a connection counts once it is still unauthenticated
  ``grace`` seconds after it was accepted (it is *idle*): a thousand engines
  of one host registering together never count (the slowest of them took
  1.4 s here). An address may hold ``per_peer`` idle connections; one that
  turns idle past that is closed at once.
- **In all**, at most ``most`` (never more than half the open-file limit:
  ``limit_in_all``). A new connection past it closes the connection idle
  longest; if none is idle, the oldest of the address that holds the most
  (if it holds more than ``per_peer``); else the new one is closed. So
  neither one address's flood of new connections nor idle connections from
  many addresses (a local user has all of 127.0.0.0/8) keep a client that
  authenticates at once from getting in.

What is refused or closed is logged a line per address per ``interval``
(``PeerReports``), not a line per connection.
"""

import math
import resource
from collections import Counter, OrderedDict

from twisted.logger import Logger

from kernel.settings import ControllerSettings

REPORT_INTERVAL = 10.0  # seconds between two lines about one address's refused connections


def limit_in_all(most, files=None):
    """The cap on unauthenticated connections in all (0: none): ``most`` (0: none), and at most half of ``files``.

    ``files``: the open-file limit (default: this process's soft limit).
    """
    if files is None:
        files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    cap = min(most or math.inf, files // 2 if files != resource.RLIM_INFINITY else math.inf)
    return 0 if cap == math.inf else int(cap)


class PeerReports:
    """Why connections of an address were refused or closed: a line at once, then a count per interval.

    Under a flood from one address the log grows by a line per ``interval``,
    not a line per connection.
    """

    log = Logger()

    def __init__(self, clock, interval=REPORT_INTERVAL):
        self.clock = clock
        self.interval = interval
        self._quiet = {}  # address -> Counter of the reasons not yet logged; present while it waits its turn

    def note(self, host, why):
        counts = self._quiet.get(host)
        if counts is not None:
            counts[why] += 1
            return
        self.log.warn("unauthenticated connection from {peer} closed: {why}", peer=host, why=why)
        self._quiet[host] = Counter()
        self.clock.callLater(self.interval, self._summarize, host)

    def _summarize(self, host):
        counts = self._quiet.pop(host)
        if not counts:
            return
        self.log.warn("{count} more unauthenticated connections from {peer} closed in {interval:g} s: {why}",
                      count=sum(counts.values()), peer=host, interval=self.interval,
                      why="; ".join(f"{why} ({n})" for why, n in counts.most_common()))
        self._quiet[host] = Counter()
        self.clock.callLater(self.interval, self._summarize, host)


class Admission:
    """The unauthenticated connections of a controller's listeners, and the caps on them.

    ``admit(host)`` says whether a connection just accepted may stay; the
    protocol of one that stays calls ``entered``, then ``authenticated`` or
    ``left``. A connection closed here is dropped from the count at once (its
    protocol hears of the loss on a later turn).
    """

    def __init__(self, clock, per_peer=0, most=0, grace=ControllerSettings.preauth_grace, reports=None):
        self.clock = clock
        self.per_peer = per_peer  # 0: no cap per address
        self.most = most  # 0: no cap in all
        self.grace = grace
        self.reports = PeerReports(clock) if reports is None else reports
        self._fresh = OrderedDict()  # protocol -> (address, when accepted), oldest first
        self._idle = OrderedDict()  # protocol -> address: past the grace, the longest waiting first
        self._of = Counter()  # address -> its unauthenticated connections
        self._idle_of = Counter()  # address -> those of them idle
        self._sweep = None

    def __len__(self):
        return len(self._fresh) + len(self._idle)

    def held(self, host):
        """How many connections of ``host`` have not authenticated (yet)."""
        return self._of[host]

    def idle(self, host):
        """How many connections of ``host`` have not authenticated within the grace."""
        return self._idle_of[host]

    def admit(self, host):
        """Whether a connection just accepted from ``host`` may stay; if not, the caller closes it at once."""
        if not self.most or len(self) < self.most:
            return True
        if self._idle:
            protocol = next(iter(self._idle))
            self._close(protocol, f"idle longest of the {self.most} unauthenticated connections the controller "
                                  f"holds, closed for a new one (preauth_max)")
            return True
        heaviest, held = self._of.most_common(1)[0]
        if self.per_peer and held > self.per_peer:
            protocol = next(p for p, (h, _) in self._fresh.items() if h == heaviest)
            self._close(protocol, f"oldest of its address, which holds the most of the {self.most} unauthenticated "
                                  f"connections the controller holds, closed for a new one (preauth_max)")
            return True
        self.reports.note(host, f"the controller holds {self.most} connections authenticating (preauth_max)")
        return False

    def entered(self, protocol, host):
        self._fresh[protocol] = (host, self.clock.seconds())
        self._of[host] += 1
        if self._sweep is None:
            self._sweep = self.clock.callLater(self.grace, self._turn_idle)

    def authenticated(self, protocol):
        self.left(protocol)

    def left(self, protocol):
        """``protocol``'s connection closed, or authenticated: it counts no more."""
        fresh = self._fresh.pop(protocol, None)
        if fresh is not None:
            self._forget(self._of, fresh[0])
            return
        host = self._idle.pop(protocol, None)
        if host is not None:
            self._forget(self._of, host)
            self._forget(self._idle_of, host)

    @staticmethod
    def _forget(counter, host):
        counter[host] -= 1
        if not counter[host]:
            del counter[host]

    def _turn_idle(self):
        """Connections accepted ``grace`` ago, still unauthenticated, are idle now: counted, or closed past the cap."""
        self._sweep = None
        now = self.clock.seconds()
        while self._fresh:
            protocol, (host, since) = next(iter(self._fresh.items()))
            if since + self.grace > now:
                self._sweep = self.clock.callLater(since + self.grace - now, self._turn_idle)
                return
            if self.per_peer and self._idle_of[host] >= self.per_peer:
                self._close(protocol, f"not authenticated within {self.grace:g} s while its address holds "
                                      f"{self.per_peer} such (preauth_per_peer)")
                continue
            del self._fresh[protocol]
            self._idle[protocol] = host
            self._idle_of[host] += 1

    def _close(self, protocol, why):
        host = self._fresh[protocol][0] if protocol in self._fresh else self._idle[protocol]
        self.left(protocol)
        self.reports.note(host, why)
        protocol.transport.abortConnection()

    def stop(self):
        """Cancel the pending sweep (the controller stops)."""
        if self._sweep is not None and self._sweep.active():
            self._sweep.cancel()
        self._sweep = None
