"""Checkpoints of the task store's write-ahead log, on a thread of their own.

In WAL mode SQLite copies the log back into the database (a checkpoint)
every thousand pages, inside whichever commit crosses the mark, and with
``synchronous=NORMAL`` a checkpoint syncs both files: 6–8 ms on this
project's test machines. Inside the controller's commit that is a
reactor turn in which no engine gets its next task and no client an
answer. So the store's connection never checkpoints
(``wal_autocheckpoint=0``), and this thread does, with a connection of its
own, once enough has been written since its last one. A ``PASSIVE``
checkpoint never waits for the writer, nor the writer for it: SQLite is
made for exactly this, and the sqlite3 module lets go of the GIL while it
works.
"""

import sqlite3
import threading

from twisted.logger import Logger

CHECKPOINT_BYTES = 4 << 20  # written to the log between checkpoints (about SQLite's own 1,000 pages)


class Checkpointer:
    """``written(n)`` after each commit; a checkpoint follows on this thread once the log has grown
    by ``every`` bytes. ``stop()`` ends the thread; the store's connection, closed after it,
    checkpoints what is left."""

    log = Logger()

    def __init__(self, path, every=CHECKPOINT_BYTES):
        self.path = path
        self.every = every
        self.checkpoints = 0  # done so far (the tests' look inside)
        self._written = 0
        self._due = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="store-checkpoints", daemon=True)
        self._thread.start()

    def written(self, n):
        """About ``n`` more bytes went to the log; called by the store's thread."""
        self._written += n
        if self._written >= self.every and not self._due.is_set():
            self._written = 0
            self._due.set()

    def stop(self):
        self._stopping = True
        self._due.set()
        self._thread.join()

    def _run(self):
        db = sqlite3.connect(str(self.path), isolation_level=None)
        try:
            while True:
                self._due.wait()
                self._due.clear()
                if self._stopping:
                    return  # the store's connection, closed last, checkpoints what is left
                self._checkpoint(db)
        finally:
            db.close()

    def _checkpoint(self, db):
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as e:  # the next one copies what this one could not
            self.log.warn("cannot checkpoint the task store's log {path}: {e}", path=str(self.path), e=e)
            return
        self.checkpoints += 1
