"""Task timelines: when and where tasks ran, as records and as a Gantt chart.

``TaskClient.timeline()`` gives the records (one dict a task: ``taskid``,
``engineid``, ``submitted``, ``started``, ``finished``, ``completed``,
``status``, ``failures``); ``plot_timeline(records, path)`` draws them, one row
per engine, with matplotlib (``pip install kernel[plot]``); without a path it
returns a ``TimelineFigure``, which Jupyter shows as a picture. Times are seconds
since the epoch: ``started``/``finished`` by the engine's clock around the
run, ``submitted``/``completed`` by the controller's.
"""

import io

COLORS = {
    "succeeded": "#1f77b4",  # blue
    "failed": "#d62728",  # red
    "retried": "#ff7f0e",  # orange: succeeded after failed attempts
    "running": "#7f7f7f",  # grey: started, not finished
}
LABELS = {"succeeded": "succeeded", "failed": "failed", "retried": "succeeded after a retry",
          "running": "running"}


def span(record):
    """``(start, stop)`` of a task's run, or None if it has not started."""
    start = record.get("started")
    stop = record.get("finished")
    if start is None:
        if record.get("status") in ("succeeded", "failed") and record.get("completed") is not None:
            start = record.get("submitted")
            stop = record.get("completed")
        else:
            return None
    if stop is None:
        stop = record.get("completed")
    return start, stop


def category(record):
    status = record.get("status")
    if status == "failed":
        return "failed"
    if status == "succeeded":
        return "retried" if record.get("failures") else "succeeded"
    return "running"


class TimelineFigure:
    """A drawn timeline: its matplotlib ``figure`` and how many ``tasks`` it shows.

    IPython and Jupyter show it as a PNG; ``savefig(path)`` writes it.
    """

    def __init__(self, figure, tasks):
        self.figure = figure
        self.tasks = tasks

    def savefig(self, path, **options):
        self.figure.savefig(path, **options)

    def _repr_png_(self):
        out = io.BytesIO()
        self.figure.savefig(out, format="png")
        return out.getvalue()

    def __repr__(self):
        return f"<TimelineFigure of {self.tasks} tasks>"


MIN_WIDTH = 0.005  # of the time span: the narrowest bar drawn, so instant tasks still show


def plot_timeline(records, path=None, title="Task timeline", now=None, figsize=(10, 4), dpi=100,
                  legend=True):
    """Draw a Gantt chart of ``records`` (one row per engine) into ``path`` (PNG, SVG, ...).

    Failed tasks are red, tasks that succeeded after failed attempts orange,
    unfinished ones grey (up to ``now``). Returns the number of tasks drawn;
    without ``path``, a TimelineFigure.
    """
    try:
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
    except ImportError:
        raise ImportError("plot_timeline needs matplotlib: pip install 'kernel[plot]'") from None

    bars = []
    for record in records:
        found = span(record)
        if found is None or record.get("engineid") is None:
            continue
        start, stop = found
        if stop is None:
            stop = now if now is not None else start
        bars.append((record["engineid"], start, max(stop, start), category(record)))
    figure = Figure(figsize=figsize, dpi=dpi)
    ax = figure.add_subplot(1, 1, 1)
    engines = sorted({b[0] for b in bars})
    origin = min((b[1] for b in bars), default=0.0)
    least = MIN_WIDTH * (max((b[2] for b in bars), default=origin) - origin)
    for eid, start, stop, kind in bars:
        ax.barh(engines.index(eid), max(stop - start, least), left=start - origin, height=0.8,
                color=COLORS[kind], edgecolor="white", linewidth=0.3)
    ax.set_yticks(range(len(engines)))
    ax.set_yticklabels([f"engine {e}" for e in engines])
    ax.set_ylim(-0.6, max(len(engines), 1) - 0.4)
    ax.set_xlabel("seconds since the first task started")
    ax.set_title(title)
    ax.invert_yaxis()
    used = [k for k in COLORS if any(b[3] == k for b in bars)]
    if used and legend:
        ax.legend(handles=[Patch(color=COLORS[k], label=LABELS[k]) for k in used],
                  loc="upper right", fontsize="small")
    figure.tight_layout()
    if path is None:
        return TimelineFigure(figure, len(bars))
    figure.savefig(path)
    return len(bars)
