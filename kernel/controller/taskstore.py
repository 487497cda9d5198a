"""The task store: task definitions and finished results, in SQLite.

Results do not live in the controller's memory, and a definition is kept so a
finished task can be resubmitted. Writes are batched: ``put_*`` parks a row
in memory (where ``get_*`` finds it) and one transaction, at most
``FLUSH_DELAY`` seconds later or as soon as ``FLUSH_BYTES`` are parked, moves
every parked row to disk. Everything is opaque here: metadata as JSON,
buffers as one blob with their lengths in the metadata.
"""

import json
import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (taskid INTEGER PRIMARY KEY, meta TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (taskid INTEGER PRIMARY KEY, meta TEXT NOT NULL, data BLOB NOT NULL);
"""
TABLES = ("results", "tasks")
FLUSH_DELAY = 0.02  # seconds a row may wait in memory before it is written
FLUSH_BYTES = 8 << 20  # parked bytes that are written at once


def _pack(taskid, meta, buffers):
    meta = dict(meta, lengths=[memoryview(b).nbytes for b in buffers])
    return taskid, json.dumps(meta), b"".join(bytes(b) for b in buffers)


def _unpack(row):
    meta = json.loads(row[0])
    data, buffers, at = row[1], [], 0
    for n in meta.pop("lengths"):
        buffers.append(bytearray(data[at:at + n]))
        at += n
    return meta, buffers


class TaskStore:
    def __init__(self, path, clock):
        self.path = path
        self.clock = clock
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._parked = {table: {} for table in TABLES}
        self._parked_bytes = 0
        self._flush_call = None

    def reset(self):
        with self.db:
            for table in TABLES:
                self.db.execute(f"DELETE FROM {table}")

    def _put(self, table, taskid, meta, buffers):
        if self.db is None:
            return  # closed: the controller is stopping
        self._parked[table][taskid] = (meta, buffers)
        self._parked_bytes += sum(memoryview(b).nbytes for b in buffers)
        if self._parked_bytes >= FLUSH_BYTES:
            self._schedule(0)
        elif self._flush_call is None:
            self._schedule(FLUSH_DELAY)

    def _schedule(self, delay):
        if self._flush_call is not None:
            if self._flush_call.getTime() <= self.clock.seconds() + delay:
                return
            self._flush_call.cancel()
        self._flush_call = self.clock.callLater(delay, self.flush)

    def put_result(self, taskid, meta, buffers):
        self._put("results", taskid, meta, buffers)

    def put_task(self, taskid, meta, buffers):
        self._put("tasks", taskid, meta, buffers)

    def flush(self):
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None
        self._parked_bytes = 0
        with self.db:
            for table, parked in self._parked.items():
                if parked:
                    rows = [_pack(t, m, b) for t, (m, b) in parked.items()]
                    parked.clear()
                    self.db.executemany(f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?)", rows)

    def _get(self, table, taskid):
        parked = self._parked[table].get(taskid)
        if parked is not None:
            return parked
        row = self.db.execute(f"SELECT meta, data FROM {table} WHERE taskid = ?", (taskid,)).fetchone()
        return None if row is None else _unpack(row)

    def get_result(self, taskid):
        """``(meta, buffers)`` of a finished task, or None."""
        return self._get("results", taskid)

    def get_task(self, taskid):
        return self._get("tasks", taskid)

    def delete_results(self, taskids=None):
        """Forget finished results (all of them when None); return how many went."""
        self.flush()
        with self.db:
            if taskids is None:
                return self.db.execute("DELETE FROM results").rowcount
            return self.db.executemany("DELETE FROM results WHERE taskid = ?",
                                       [(t,) for t in taskids]).rowcount

    def close(self):
        if self.db is not None:
            self.flush()
            self.db.close()
            self.db = None
