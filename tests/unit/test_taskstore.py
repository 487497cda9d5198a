"""The durable task store: reloading, first result wins, and the start-up errors."""

import sqlite3
import stat

import pytest
from twisted.internet.task import Clock

from kernel import paths
from kernel.controller.checkpoints import Checkpointer
from kernel.controller import taskstore
from kernel.controller.taskstore import StoreError, TaskStore
from tests.harness import wait_for


@pytest.fixture
def clock():
    return Clock()


def test_made_on_first_open_and_reloaded_after(tmp_path, clock):
    store = TaskStore.open(tmp_path, clock)
    store.put_task(0, {"chain": [{}], "counts": [1]}, [b"zero"])
    store.put_task(1, {"chain": [{}], "counts": [1]}, [b"one"])
    store.put_result(0, {"status": "succeeded", "completed": 5.0}, [b"r"])
    store.note_failure(1)
    store.close()
    again = TaskStore.open(tmp_path, clock)
    assert again.next_id() == 2
    assert list(again.outcomes()) == [(0, True)]
    [(taskid, meta, buffers, failures)] = list(again.unfinished())
    assert (taskid, [bytes(b) for b in buffers], failures) == (1, [b"one"], 1)
    again.close()


def test_timestamps_are_kept_in_columns_and_read_back_into_the_metadata(tmp_path, clock):
    store = TaskStore.open(tmp_path, clock)
    store.put_task(0, {"chain": [{}], "counts": [1], "submitted": 1.25}, [b"zero"])
    store.put_result(0, {"status": "succeeded", "submitted": 1.25, "started": 2.5, "finished": 3.75,
                         "completed": 4.0}, [b"r"])
    store.flush()
    meta = store.db.execute("SELECT meta FROM results WHERE taskid = 0").fetchone()[0]
    assert "started" not in meta and "status" in meta
    assert store.get_result(0)[0] == {"status": "succeeded", "submitted": 1.25, "started": 2.5,
                                      "finished": 3.75, "completed": 4.0}
    assert store.get_task(0)[0]["submitted"] == 1.25
    assert list(store.summaries(("started", "status"))) == [(0, {"started": 2.5, "status": "succeeded"})]
    store.close()


def test_a_store_from_before_the_timestamp_columns_is_read_and_written(tmp_path, clock):
    """An older store kept every timestamp in each row's JSON: its rows read as they did,
    and new rows go beside them."""
    db = sqlite3.connect(tmp_path / "tasks.sqlite")
    db.executescript("""
        CREATE TABLE results (taskid INTEGER PRIMARY KEY, meta TEXT NOT NULL, data BLOB NOT NULL,
                              completed REAL NOT NULL DEFAULT 0);
        CREATE TABLE tasks (taskid INTEGER PRIMARY KEY, meta TEXT NOT NULL, data BLOB NOT NULL);
        INSERT INTO tasks VALUES (0, '{"chain": [{}], "counts": [1], "submitted": 1.5, "lengths": [4]}', X'7a65726f');
        INSERT INTO tasks VALUES (1, '{"chain": [{}], "counts": [1], "submitted": 1.75, "lengths": [3]}', X'6f6e65');
        INSERT INTO results VALUES (0, '{"status": "succeeded", "started": 2.5, "completed": 3.0, "lengths": [1]}',
                                    X'72', 3.0);
    """)
    db.close()
    store = TaskStore.open(tmp_path, clock)
    assert store.db.execute("SELECT value FROM store WHERE key = 'layout'").fetchone() == (str(taskstore.LAYOUT),)
    assert store.get_result(0)[0] == {"status": "succeeded", "started": 2.5, "completed": 3.0}
    [(taskid, meta, _, _)] = list(store.unfinished())
    assert (taskid, meta["submitted"]) == (1, 1.75)
    store.put_result(1, {"status": "failed", "started": 5.5, "completed": 6.0}, [])
    store.flush()
    assert [(t, m["started"]) for t, m in store.summaries(("started",))] == [(0, 2.5), (1, 5.5)]
    store.close()


def test_a_store_written_by_a_newer_kernel_is_refused_by_name(tmp_path, clock):
    store = TaskStore.open(tmp_path, clock)
    store.db.execute("UPDATE store SET value = ? WHERE key = 'layout'", (str(taskstore.LAYOUT + 1),))
    store.close()
    newer = rf"tasks.sqlite was written by a newer kernel \(layout {taskstore.LAYOUT + 1}.*--reset-db"
    with pytest.raises(StoreError, match=newer):
        TaskStore.open(tmp_path, clock)
    TaskStore.open(tmp_path, clock, reset=True).close()


def test_a_store_whose_layout_is_garbled_is_refused_by_name(tmp_path, clock):
    store = TaskStore.open(tmp_path, clock)
    store.db.execute("UPDATE store SET value = 'two' WHERE key = 'layout'")
    store.close()
    with pytest.raises(StoreError, match=r"tasks.sqlite cannot be read \(its layout is 'two'\).*--reset-db"):
        TaskStore.open(tmp_path, clock)


def test_results_just_written_are_read_from_memory_within_bounds(tmp_path, clock, monkeypatch):
    monkeypatch.setattr(taskstore, "RECENT_ROWS", 3)
    monkeypatch.setattr(taskstore, "RECENT_BYTES", 10)
    store = TaskStore.open(tmp_path, clock)
    for taskid in range(5):
        store.put_result(taskid, {"status": "succeeded", "completed": 1.0}, [b"abc"])
    store.put_result(5, {"status": "succeeded", "completed": 1.0}, [b"x" * 11])  # over the bytes alone
    store.flush()
    queries = []
    store.db.set_trace_callback(queries.append)
    assert [bytes(store.get_result(t)[1][0]) for t in (2, 3, 4)] == [b"abc"] * 3 and queries == []
    for taskid in (0, 5):  # the oldest and the biggest: read from disk
        assert store.get_result(taskid)[0] == {"status": "succeeded", "completed": 1.0}
    assert len(queries) == 2
    store.put_result(4, {"status": "failed"}, [b"second"])
    store.flush()
    assert store.get_result(4) == ({"status": "succeeded", "completed": 1.0}, [b"abc"])  # the first wins
    assert store.delete_results([4]) == 1 and store.get_result(4) is None
    store.close()


def test_the_first_result_stored_wins(tmp_path, clock):
    store = TaskStore.open(tmp_path, clock)
    store.put_result(3, {"status": "succeeded"}, [b"first"])
    store.put_result(3, {"status": "failed"}, [b"parked second"])
    store.flush()
    store.put_result(3, {"status": "failed"}, [b"stored second"])
    store.flush()
    meta, buffers = store.get_result(3)
    assert meta["status"] == "succeeded" and bytes(buffers[0]) == b"first"
    store.close()


def test_a_missing_store_is_reported_with_its_path(tmp_path, clock):
    TaskStore.open(tmp_path, clock).close()
    (tmp_path / "tasks.sqlite").unlink()
    with pytest.raises(StoreError, match=r"tasks.sqlite is missing.*--reset-db"):
        TaskStore.open(tmp_path, clock)
    TaskStore.open(tmp_path, clock, reset=True).close()


def test_a_corrupt_store_is_reported_and_kept(tmp_path, clock):
    TaskStore.open(tmp_path, clock).close()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"tasks.sqlite{suffix}").unlink(missing_ok=True)
    (tmp_path / "tasks.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot be read"):
        TaskStore.open(tmp_path, clock)
    assert (tmp_path / "tasks.sqlite").read_bytes().startswith(b"this is not")  # not replaced
    store = TaskStore.open(tmp_path, clock, reset=True)
    assert store.next_id() == 0
    store.close()


def test_a_store_from_another_directory_is_refused(tmp_path, clock):
    TaskStore.open(tmp_path / "a", clock).close()
    TaskStore.open(tmp_path / "b", clock).close()
    (tmp_path / "b" / "tasks.sqlite").unlink()
    (tmp_path / "a" / "tasks.sqlite").rename(tmp_path / "b" / "tasks.sqlite")
    with pytest.raises(StoreError, match="belongs to another directory"):
        TaskStore.open(tmp_path / "b", clock)


def test_retention_by_count_and_age(tmp_path, clock):
    store = TaskStore.open(tmp_path, clock)
    for taskid in range(10):
        store.put_result(taskid, {"status": "succeeded", "completed": float(taskid)}, [])
    assert store.prune(older_than=3.0) == 3  # 0, 1, 2
    assert store.prune(max_results=4) == 3  # keeps 6..9
    assert [t for t, _ in store.outcomes()] == [6, 7, 8, 9]
    store.close()


def test_task_code_and_results_are_readable_by_their_owner_only(tmp_path, clock):
    directory = tmp_path / "db"
    directory.mkdir(mode=0o755)
    (directory / "tasks.sqlite").touch(mode=0o644)  # as an older store left it
    directory = paths.db_dir(tmp_path)
    store = TaskStore.open(directory, clock)
    store.put_task(1, {"chain": []}, [b"code"])
    store.flush()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    made = sorted(directory.glob("tasks.sqlite*"))
    assert [p.name for p in made] == ["tasks.sqlite", "tasks.sqlite-shm", "tasks.sqlite-wal"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in made} == {0o600}
    store.close()
    (tmp_path / "fresh").mkdir()
    fresh = TaskStore.open(tmp_path / "fresh", clock)
    fresh.put_task(1, {"chain": []}, [b"code"])
    fresh.flush()
    assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "fresh").glob("tasks.sqlite*")} == {0o600}
    fresh.close()


def test_a_flush_is_one_transaction(tmp_path, clock):
    """Every parked row, of every table, is committed together: all of them or, on a failure, none."""
    store = TaskStore.open(tmp_path, clock)
    statements = []
    store.db.set_trace_callback(statements.append)
    for taskid in range(50):
        store.put_task(taskid, {"chain": [{}], "counts": [1]}, [b"t"])
        store.put_result(taskid, {"status": "succeeded", "completed": 1.0}, [b"r"])
    store.note_failure(7)
    store.flush()
    assert [s for s in statements if s in ("BEGIN", "COMMIT")] == ["BEGIN", "COMMIT"]
    store.put_task(50, {"chain": [{}], "counts": [1]}, [b"t"])
    store.put_result(50, {"unpicklable": object()}, [b"r"])  # its metadata cannot be written
    with pytest.raises(TypeError):
        store.flush()
    on_disk = [store.db.execute(f"SELECT COUNT(*) FROM {table} WHERE taskid = 50").fetchone()[0]
               for table in ("tasks", "results")]
    assert on_disk == [0, 0]  # the task was rolled back with the result
    store.db.close()


def test_the_log_is_checkpointed_on_a_thread_of_its_own_never_inside_a_commit(tmp_path, clock):
    """A checkpoint syncs the disk (milliseconds, more under load): in a commit it would stall the reactor."""
    store = TaskStore.open(tmp_path, clock)
    store.checkpointer.stop()  # none at first: commits alone must never copy the log into the database
    database = tmp_path / "tasks.sqlite"
    before = database.stat().st_size
    for taskid in range(2000):  # 8 MB of log: SQLite's own rule checkpoints every 1,000 pages (4 MB)
        store.put_task(taskid, {"chain": [{}], "counts": [1]}, [b"x" * 4000])
        if taskid % 100 == 99:
            store.flush()
    assert database.stat().st_size == before
    store.checkpointer = Checkpointer(database, every=1)
    store.put_task(2000, {"chain": [{}], "counts": [1]}, [b"y"])
    store.flush()
    wait_for(lambda: store.checkpointer.checkpoints == 1, 30, what="a checkpoint")
    assert database.stat().st_size > 8_000_000  # the log's pages are in the database now
    assert [bytes(b) for b in store.get_task(1999)[1]] == [b"x" * 4000]
    store.close()
