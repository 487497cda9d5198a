"""The task store: task definitions and finished results, in SQLite (WAL mode).

It is what makes a controller restart lose nothing: every accepted task is
here before its id is given out (``flush`` before answering ``run``), every
finished result is here, and a restarted controller queues again every task
that has no result. Results do not live in the controller's memory (but for
a bounded cache of the newest written, ``_Recent``), and a definition is kept
so a finished task can be resubmitted. The first result
stored for a task wins: a task that ran twice because of a crash never reports
two different values. Writes are batched: ``put_*`` parks a row
in memory (where ``get_*`` finds it) and one transaction, at most
``FLUSH_DELAY`` seconds later or as soon as ``FLUSH_BYTES`` are parked, moves
every parked row to disk. Metadata is opaque here, as JSON, but for its
timestamps (``TIMES``), which have columns of their own: writing a float as
JSON costs more than the rest of a row's metadata. Buffers are one blob, with
their lengths in the metadata.
"""

import json
import os
import secrets
import sqlite3
from contextlib import contextmanager
from pathlib import Path

from kernel.controller.checkpoints import Checkpointer
from kernel.errors import KernelError

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (taskid INTEGER PRIMARY KEY, meta TEXT NOT NULL, data BLOB NOT NULL,
                                    completed REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tasks (taskid INTEGER PRIMARY KEY, meta TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS failures (taskid INTEGER PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS store (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
TABLES = ("results", "tasks")
RESULT_TIMES = ("submitted", "started", "finished", "completed")
TIMES = {"results": RESULT_TIMES, "tasks": ("submitted",)}  # metadata kept in REAL columns, not in the JSON
INSERT = {
    "results": "INSERT OR IGNORE INTO results (taskid, meta, data, submitted, started, finished, completed) "
               "VALUES (?, ?, ?, ?, ?, ?, COALESCE(?, 0))",  # the first result wins
    "tasks": "INSERT OR REPLACE INTO tasks (taskid, meta, data, submitted) VALUES (?, ?, ?, ?)",
}
MARKER = "tasks.id"  # beside the database: says a store was made here, and which
LAYOUT = 2  # of the tables: 1 kept the timestamps in each row's JSON, 2 in columns of their own (TIMES)


FLUSH_DELAY = 0.02  # seconds a row may wait in memory before it is written
FLUSH_BYTES = 8 << 20  # parked bytes that are written at once
RECENT_ROWS = 1024  # results kept in memory once written: those waiting clients are sent next
RECENT_BYTES = 4 << 20  # ... holding at most this many bytes of buffers in all


class StoreError(KernelError):
    """The task store is missing, corrupt or not this directory's; the message says which."""


def _pack(table, taskid, meta, buffers):
    packed = dict(meta, lengths=[memoryview(b).nbytes for b in buffers])
    times = [packed.pop(k, None) for k in TIMES[table]]
    return (taskid, json.dumps(packed), b"".join(buffers), *times)  # received buffers: contiguous, joined in one copy


def _selected(table, alias=""):
    """The columns ``_unpack`` reads, in its order (each prefixed by ``alias``)."""
    return ", ".join(alias + column for column in ("meta", "data", *TIMES[table]))


def _unpack(table, row):
    meta = json.loads(row[0])
    for k, value in zip(TIMES[table], row[2:]):
        if value is not None:
            meta.setdefault(k, value)  # a row written before the column was added has it in its JSON
    data, buffers, at = memoryview(row[1]), [], 0
    for n in meta.pop("lengths"):
        buffers.append(data[at:at + n])  # views of the row's one blob: forwarded, never copied
        at += n
    return meta, buffers


def _remove(path):
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _private(path):
    """Make the store's files (task code and results) readable by their owner only.

    SQLite gives its -wal and -shm files the mode of the database file, so
    that file is made 0600 before SQLite opens it; files of an older store
    are locked down too.
    """
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            os.chmod(f"{path}{suffix}", 0o600)


class _Recent:
    """The newest results written, as ``(meta, buffers)`` by id: a bounded read cache.

    A client waiting for a batch of tasks is sent their results as the last
    one finishes, by then most of them written: reading each back was a
    query and a JSON decode, 9% of the controller's instructions for a map's task.
    """

    def __init__(self):
        self._rows, self._bytes = {}, 0

    def get(self, taskid):
        row = self._rows.get(taskid)
        return None if row is None else row[:2]

    def __contains__(self, taskid):
        return taskid in self._rows

    def add(self, rows):
        for taskid, (meta, buffers) in rows.items():
            size = sum(memoryview(b).nbytes for b in buffers)
            if size <= RECENT_BYTES:
                self._rows[taskid] = (meta, buffers, size)
                self._bytes += size
        while len(self._rows) > RECENT_ROWS or self._bytes > RECENT_BYTES:
            self._bytes -= self._rows.pop(next(iter(self._rows)))[2]

    def clear(self):
        self._rows, self._bytes = {}, 0


class TaskStore:
    """``TaskStore.open(directory, clock, reset=False)`` is the way in."""

    def __init__(self, path, clock):
        self.path = path
        self.clock = clock
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA wal_autocheckpoint=0")  # never inside a commit: see checkpoints.py
        self.db.executescript(SCHEMA)
        self._upgrade()
        self.checkpointer = Checkpointer(path)
        self._parked = {table: {} for table in TABLES}
        self._failures = {}
        self._parked_bytes = 0
        self._recent = _Recent()
        self._flush_call = None

    def _upgrade(self):
        """Bring a store of an older ``LAYOUT`` up to this one (its rows stay as they are: a
        row's timestamps are read from its JSON where its columns are empty); refuse a newer one."""
        row = self.db.execute("SELECT value FROM store WHERE key = 'layout'").fetchone()
        found = 1 if row is None else int(row[0]) if row[0].isdigit() else None
        if found is None:
            self.db.close()
            raise StoreError(f"the task store {self.path} cannot be read (its layout is {row[0][:40]!r}): move it "
                             "away to keep it for inspection, or start with --reset-db to begin afresh")
        if found > LAYOUT:
            self.db.close()
            raise StoreError(f"the task store {self.path} was written by a newer kernel (layout {found}, this one "
                             f"knows up to {LAYOUT}): run that version, or start with --reset-db to begin afresh")
        for table, times in TIMES.items():
            have = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
            for name in times:
                if name not in have:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {name} REAL")
        self.db.execute("INSERT OR REPLACE INTO store VALUES ('layout', ?)", (str(LAYOUT),))

    @contextmanager
    def transaction(self):
        """One transaction for everything written inside: one commit to the log, not one per row.

        The connection autocommits (``isolation_level=None``), so without this
        each row of an ``executemany`` was a transaction of its own: 13–14 µs
        a row, where one transaction for 40 rows costs 4.7 µs a row.
        """
        self.db.execute("BEGIN")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @classmethod
    def open(cls, directory, clock, reset=False):
        """Open this directory's store: made on first start, reloaded after.

        A store that was made here and has gone missing, or that cannot be
        read, is an error naming the path: it is never silently replaced.
        ``reset`` starts afresh on purpose.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path, marker = directory / "tasks.sqlite", directory / MARKER
        if reset:
            _remove(path)
            marker.unlink(missing_ok=True)
        if marker.exists() and not path.exists():
            raise StoreError(f"the task store {path} is missing (this directory had one): "
                             "start with --reset-db to begin afresh, losing its tasks and results")
        _private(path)
        store = None
        try:
            store = cls(path, clock)
            ident = store.db.execute("SELECT value FROM store WHERE key = 'id'").fetchone()
        except sqlite3.DatabaseError as e:
            if store is not None:
                store.close()
            raise StoreError(f"the task store {path} cannot be read ({e}): move it away to keep it "
                             "for inspection, or start with --reset-db to begin afresh") from None
        expected = marker.read_text().strip() if marker.exists() else None
        if ident is None:
            ident = (expected or secrets.token_hex(8),)
            store.db.execute("INSERT INTO store VALUES ('id', ?)", ident)
        if expected is not None and ident[0] != expected:
            store.close()
            raise StoreError(f"the task store {path} belongs to another directory (id {ident[0]}, "
                             f"expected {expected}): start with --reset-db to begin afresh")
        marker.write_text(ident[0] + "\n")
        store.ident = ident[0]
        return store

    def unfinished(self):
        """``(taskid, meta, buffers, failures)`` of every task without a result, oldest first."""
        self.flush()
        rows = self.db.execute(
            f"SELECT t.taskid, COALESCE(f.n, 0), {_selected('tasks', 't.')} FROM tasks t "
            "LEFT JOIN results r ON r.taskid = t.taskid LEFT JOIN failures f ON f.taskid = t.taskid "
            "WHERE r.taskid IS NULL ORDER BY t.taskid")
        for taskid, failures, *row in rows:
            meta, buffers = _unpack("tasks", row)
            yield taskid, meta, buffers, failures

    def outcomes(self):
        """``(taskid, succeeded)`` of every stored result, for dependencies on old tasks."""
        for taskid, status in self.db.execute(
                "SELECT taskid, json_extract(meta, '$.status') FROM results ORDER BY taskid"):
            yield taskid, status == "succeeded"

    def summaries(self, fields):
        """``(taskid, {field: value})`` of every stored result, without its data."""
        self.flush()
        query = ("SELECT taskid, " + ", ".join(
            f"COALESCE({f}, json_extract(meta, '$.{f}'))" if f in RESULT_TIMES else f"json_extract(meta, '$.{f}')"
            for f in fields) + " FROM results ORDER BY taskid")
        for row in self.db.execute(query):
            yield row[0], dict(zip(fields, row[1:]))

    def failure_counts(self):
        """Failed attempts reported so far, by task id."""
        self.flush()
        return dict(self.db.execute("SELECT taskid, n FROM failures"))

    def next_id(self):
        """The first id never used nor leased: ids are not reused, also across restarts."""
        row = self.db.execute("SELECT MAX(taskid) FROM tasks").fetchone()
        leased = self.db.execute("SELECT value FROM store WHERE key = 'leased'").fetchone()
        return max(0 if row[0] is None else row[0] + 1, 0 if leased is None else int(leased[0]))

    def note_leased(self, end):
        """Ids below ``end`` were given out to clients; on disk before they are used."""
        self.flush()
        self.db.execute("INSERT OR REPLACE INTO store VALUES ('leased', ?)", (str(end),))

    def has_task(self, taskid):
        if taskid in self._parked["tasks"]:
            return True
        return self.db.execute("SELECT 1 FROM tasks WHERE taskid = ?", (taskid,)).fetchone() is not None

    def stored_among(self, taskids):
        """Which of ``taskids`` (a set) have a stored task: one query for all of them, not one each."""
        found = taskids & self._parked["tasks"].keys()
        rest = sorted(taskids - found)
        if rest:
            found.update(row[0] for row in self.db.execute(
                "SELECT taskid FROM tasks WHERE taskid IN (SELECT value FROM json_each(?))", (json.dumps(rest),)))
        return found

    def note_failure(self, taskid):
        """One more reported failure (a restart charges it against the task's retries)."""
        self._failures[taskid] = self._failures.get(taskid, 0) + 1
        if self._flush_call is None:
            self._schedule(FLUSH_DELAY)

    def prune(self, max_results=0, older_than=None):
        """Retention: keep the newest ``max_results`` results, none completed before ``older_than``."""
        self.flush()
        self._recent.clear()
        dropped = 0
        with self.transaction():
            if older_than is not None:
                dropped += self.db.execute("DELETE FROM results WHERE completed < ?", (older_than,)).rowcount
            if max_results:
                dropped += self.db.execute(
                    "DELETE FROM results WHERE taskid NOT IN "
                    "(SELECT taskid FROM results ORDER BY taskid DESC LIMIT ?)", (max_results,)).rowcount
        return dropped

    def _put(self, table, taskid, meta, buffers):
        if self.db is None:
            return  # closed: the controller is stopping
        if table == "results" and (taskid in self._parked[table] or taskid in self._recent):
            return  # the first result wins
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
        if not (self._failures or any(self._parked.values())):
            return
        with self.transaction():
            for table, parked in self._parked.items():
                if parked:
                    rows = [_pack(table, t, m, b) for t, (m, b) in parked.items()]
                    if table == "results":
                        self._recent.add(parked)
                    parked.clear()
                    self.db.executemany(INSERT[table], rows)
                    self.checkpointer.written(sum(len(row[1]) + len(row[2]) for row in rows))
            if self._failures:
                self.db.executemany(
                    "INSERT INTO failures VALUES (?, ?) ON CONFLICT(taskid) DO UPDATE SET n = n + excluded.n",
                    list(self._failures.items()))
                self._failures.clear()

    def _get(self, table, taskid):
        parked = self._parked[table].get(taskid)
        if parked is not None:
            return parked
        recent = self._recent.get(taskid) if table == "results" else None
        if recent is not None:
            return recent
        row = self.db.execute(f"SELECT {_selected(table)} FROM {table} WHERE taskid = ?", (taskid,)).fetchone()
        return None if row is None else _unpack(table, row)

    def get_result(self, taskid):
        """``(meta, buffers)`` of a finished task, or None."""
        return self._get("results", taskid)

    def get_task(self, taskid):
        return self._get("tasks", taskid)

    def delete_results(self, taskids=None):
        """Forget finished results (all of them when None); return how many went."""
        self.flush()
        self._recent.clear()
        with self.transaction():
            if taskids is None:
                return self.db.execute("DELETE FROM results").rowcount
            return self.db.executemany("DELETE FROM results WHERE taskid = ?",
                                       [(t,) for t in taskids]).rowcount

    def close(self):
        if self.db is not None:
            self.flush()
            self.checkpointer.stop()
            self.db.close()  # the last connection: SQLite checkpoints the rest of the log
            self.db = None
