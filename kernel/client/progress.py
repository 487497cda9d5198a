"""A progress bar for long waits: done/total, rate and ETA.

``progress_bar(progress, total)`` is what the clients call: ``progress=True``
shows a bar, ``False`` never does, and ``None`` (the default) shows one only in
an interactive terminal (stderr is a tty) or a notebook, and only once the wait
has lasted ``AUTO_DELAY`` seconds, so quick calls and scripts print nothing.
tqdm draws the bar when it is installed; otherwise ``Progress`` writes one
plain line to stderr, rewritten in place with a carriage return.

``Progress`` knows nothing of clients: it takes a clock and a stream, so it
can be driven by hand (``update(done)``, ``close()``).
"""

import sys
import time

AUTO_DELAY = 2.0  # seconds a wait lasts before an automatic bar appears
MIN_INTERVAL = 0.1  # seconds between two redraws of the plain line


def _format_time(seconds):
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


def in_notebook():
    """True inside a Jupyter kernel (a ZMQ shell)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def interactive(stream=None):
    """Whether an automatic bar would be seen: a terminal on ``stream`` (stderr) or a notebook."""
    stream = sys.stderr if stream is None else stream
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):
        pass
    return in_notebook()


class Progress:
    """A plain one-line progress bar.

    ``update(done)`` sets how many of ``total`` are done (never backwards);
    ``close()`` finishes the line. Nothing is written before ``delay`` seconds
    have passed since the bar was made, nor more often than ``min_interval``
    (the last state is always written by ``close`` if anything was shown).
    """

    def __init__(self, total, desc="", stream=None, clock=time.monotonic, delay=0.0,
                 min_interval=MIN_INTERVAL, width=30):
        self.total = max(0, int(total))
        self.desc = desc
        self.stream = sys.stderr if stream is None else stream
        self.clock = clock
        self.delay = delay
        self.min_interval = min_interval
        self.width = width
        self.start = clock()
        self.done = 0
        self.shown = False
        self.closed = False
        self._last_draw = None
        self._last_len = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def rate(self):
        elapsed = self.clock() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self):
        """The bar as text, e.g. ``map: 40/100 [####      ]  40% 12.5/s ETA 00:05``."""
        total = self.total
        fraction = self.done / total if total else 1.0
        filled = int(round(self.width * fraction))
        bar = "#" * filled + " " * (self.width - filled)
        rate = self.rate()
        if self.done >= total:
            eta = _format_time(self.clock() - self.start)
            tail = f"in {eta}"
        elif rate > 0:
            tail = f"ETA {_format_time((total - self.done) / rate)}"
        else:
            tail = "ETA ?"
        prefix = f"{self.desc}: " if self.desc else ""
        return f"{prefix}{self.done}/{total} [{bar}] {100 * fraction:3.0f}% {rate:.1f}/s {tail}"

    def update(self, done=None, force=False):
        """Set the count done (default: unchanged) and redraw if it is time to."""
        if self.closed:
            return
        if done is not None:
            self.done = min(self.total, max(self.done, int(done)))
        now = self.clock()
        if now - self.start < self.delay:
            return
        if not force and self._last_draw is not None and now - self._last_draw < self.min_interval:
            return
        self._draw(now)

    def advance(self, n=1):
        self.update(self.done + n)

    def _draw(self, now):
        text = self.line()
        pad = " " * max(0, self._last_len - len(text))
        self.stream.write("\r" + text + pad)
        self.stream.flush()
        self._last_len = len(text)
        self._last_draw = now
        self.shown = True

    def close(self):
        if self.closed:
            return
        if self.shown:
            self._draw(self.clock())
            self.stream.write("\n")
            self.stream.flush()
        self.closed = True


class _Tqdm:
    """tqdm behind the same ``update(done)`` / ``close()`` interface."""

    def __init__(self, bar):
        self.bar = bar
        self.done = 0
        self.total = bar.total

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def update(self, done=None, force=False):
        if done is not None and done > self.done:
            self.bar.update(done - self.done)
            self.done = done
        elif force:
            self.bar.refresh()

    def advance(self, n=1):
        self.update(self.done + n)

    def close(self):
        self.bar.close()


def progress_bar(progress, total, desc="", stream=None, clock=time.monotonic, use_tqdm=None):
    """The bar for a wait on ``total`` things, or None when there should be none.

    ``progress``: True (always), False (never) or None (automatic: only when
    interactive, and only for waits longer than ``AUTO_DELAY``).
    """
    if progress is False or total <= 0:
        return None
    if progress is None:
        if not interactive(stream):
            return None
        delay = AUTO_DELAY
    elif progress is True:
        delay = 0.0
    else:
        raise ValueError(f"progress must be True, False or None, not {progress!r}")
    if use_tqdm is None or use_tqdm:
        try:
            if in_notebook():
                from tqdm.auto import tqdm
            else:
                from tqdm import tqdm
        except ImportError:
            if use_tqdm:
                raise
        else:
            return _Tqdm(tqdm(total=total, desc=desc or None, file=stream, delay=delay,
                              unit="task", dynamic_ncols=True))
    return Progress(total, desc, stream, clock, delay)
