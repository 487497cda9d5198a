"""The programs' log files: rotated by size, and an event that floods thinned to a line a second.

A flood of connections once wrote 50 MB of the same line in 30 s; a log
that only grows can fill the disk. ``open_log`` rotates ``NAME.log`` to
``NAME.log.1`` … ``NAME.log.<backups>`` past ``max_size`` bytes, so a
program's logs take at most ``(backups + 1) × max_size``. ``Throttle`` lets
the events in ``FLOODS`` through at most once per ``interval`` each, and says
how many it held back.
"""

from twisted.logger import ILogObserver
from twisted.python.logfile import LogFile
from zope.interface import implementer

from kernel.wire.transport import ACCEPT_FAILED

FLOODS = frozenset({ACCEPT_FAILED})  # the log_format of events a flood repeats: the listener out of files
INTERVAL = 1.0  # seconds: at most one line of each flooding event


def open_log(path, max_size, backups):
    """An append-mode log file at ``path`` that rotates past ``max_size`` bytes (0: never), keeping ``backups``."""
    return LogFile.fromFullPath(path, rotateLength=max_size or None, maxRotatedFiles=backups)


@implementer(ILogObserver)
class Throttle:
    """Passes events on to ``observer``; of each format in ``floods``, at most one per ``interval``.

    The first such event passes at once; those that follow within the
    interval are counted, and when it ends the last of them passes, stamped
    with that time and the count (``log_repeats``) in its text, opening
    another interval. The events in ``floods`` must be the reactor's
    thread's (the interval is timed with ``clock.callLater``).
    """

    def __init__(self, observer, clock, floods=FLOODS, interval=INTERVAL):
        self.observer = observer
        self.clock = clock
        self.floods = floods
        self.interval = interval
        self._held = {}  # format -> [how many held back, the last of them], while its interval runs

    def __call__(self, event):
        key = event.get("log_format")
        if key not in self.floods:
            self.observer(event)
            return
        held = self._held.get(key)
        if held is not None:
            held[0] += 1
            held[1] = event
            return
        self._pass(key, event)

    def _pass(self, key, event):
        self._held[key] = [0, None]
        self.clock.callLater(self.interval, self._end, key)
        self.observer(event)

    def _end(self, key):
        count, last = self._held.pop(key)
        if count:
            self._pass(key, dict(last, log_repeats=count, log_time=self.clock.seconds(),
                                 log_format=key + f" (and {{log_repeats}} more like it in {self.interval:g} s)"))
