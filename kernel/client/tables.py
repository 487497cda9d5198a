"""Query results that print as plain-text tables: ``mec.queue_status()``, ``tc.queue_status()``.

Each is the plain list or dict the call returns, with a ``table()`` that its
``repr`` (and IPython's pretty printer) shows.
"""

CELL_WIDTH = 40  # longer cells are cut, ending in "..."


def _cell(text, width=CELL_WIDTH):
    text = str(text)
    return text if len(text) <= width else text[:width - 3] + "..."


def format_table(headers, rows):
    """Plain-text columns: a header line, then one line per row."""
    rows = [[_cell(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def _ids_text(ids, most=8):
    ids = list(ids)
    text = ", ".join(map(str, ids[:most]))
    return text + (f", ... ({len(ids)} in all)" if len(ids) > most else "")


class _Table:
    """Shown as its ``table()``."""

    def table(self):
        raise NotImplementedError

    def __repr__(self):
        return self.table()

    __str__ = __repr__

    def _repr_pretty_(self, p, cycle):
        p.text(self.table())


class QueueStatus(_Table, list):
    """``mec.queue_status()``: the plain list of ``(id, status)``, shown as a table."""

    def table(self):
        rows = []
        for eid, status in self:
            queue = status.get("queue") or []
            rows.append([eid, status.get("pending"), len(queue), _ids_text(queue, 3)])
        return format_table(["engine", "running", "queued", "queue"], rows)


class TaskQueueStatus(_Table, dict):
    """``tc.queue_status()``: the plain dict, shown as a table."""

    STATES = ("scheduled", "pending", "succeeded", "failed")

    def table(self):
        rows = []
        for state in self.STATES + tuple(k for k in self if k not in self.STATES + ("waiting",)):
            if state not in self:
                continue
            value = self[state]
            if isinstance(value, (list, tuple, set)):
                rows.append([state, len(value), _ids_text(value)])
            else:
                rows.append([state, value, ""])
        text = format_table(["state", "tasks", "ids"] if any(r[2] for r in rows) else ["state", "tasks"],
                            [r if any(x[2] for x in rows) else r[:2] for r in rows])
        waiting = self.get("waiting")
        if waiting:
            text += "\n" + format_table(["waiting", "why"], sorted(waiting.items()))
        return text
