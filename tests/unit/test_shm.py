"""Shared-memory segments and the serialize envelope, within one process.

A test process is both creator and consumer here: ``share`` is given this
process's pid as the consumer. Segment files are looked at in /dev/shm by the
pid in their names, so other processes' segments never count.
"""

import errno
import json
import os
import subprocess
import sys
import threading

import numpy
import pytest

from kernel.engine import methods
from kernel.engine.interpreter import Interpreter
from kernel.wire import serialize, shm, shmpool

pytestmark = pytest.mark.skipif(shm.host_key() is None, reason="no writable tmpfs /dev/shm here")

MiB = 1 << 20


def ours():
    """This process's segment files (a segment and its tickets are links to one file)."""
    prefix = f"kernel-{os.getpid()}-"
    return {n for n in os.listdir(shm.SHM_DIR) if n.startswith(prefix)}


def tickets_out():
    """How many tickets this process has out: each is one more link to its segment's file."""
    links = {}
    for name in ours():
        info = os.stat(os.path.join(shm.SHM_DIR, name))
        links[info.st_ino] = info.st_nlink
    return sum(n - 1 for n in links.values())


def shared(value, consumers=1):
    copies, tickets = serialize.share(serialize.dumps(value), [os.getpid()] * consumers)
    return copies, tickets


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def envelope(manifest, head=b"\x80\x05N."):
    encoded = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    return b"".join([serialize.ENVELOPE, serialize.MANIFEST_LENGTH.pack(len(encoded)), encoded, head])


@pytest.fixture(autouse=True)
def _nothing_left_out():
    yield
    assert tickets_out() == 0


# -- host keys ---------------------------------------------------------------------------


def test_the_host_key_is_stable_hex_and_off_when_disabled(monkeypatch):
    key = shm.host_key()
    assert len(key) == 64 and int(key, 16) >= 0 and shm.host_key() == key
    monkeypatch.setattr(shm, "_disabled", True)
    assert shm.host_key() is None


# -- round trips -----------------------------------------------------------------------------


def test_big_buffers_travel_through_segments_and_small_ones_inline():
    big = numpy.random.default_rng(0).random(MiB // 8 * 3)  # 3 MiB
    fortran = numpy.asfortranarray(numpy.arange(2 * MiB // 8, dtype=numpy.float64).reshape(512, -1))
    small = numpy.arange(1000.0)  # 8 KB: out of band, but inline
    copies, tickets = shared({"big": big, "fortran": fortran, "small": small})
    head, *buffers = copies[0]
    assert head.startswith(serialize.ENVELOPE) and len(tickets) == 2
    assert sorted(memoryview(b).nbytes for b in buffers) == [0, 0, small.nbytes]
    assert tickets_out() == 2
    back = serialize.loads(copies[0])
    assert tickets_out() == 0  # taken: each ticket is unlinked once mapped
    numpy.testing.assert_array_equal(back["big"], big)
    numpy.testing.assert_array_equal(back["fortran"], fortran)
    numpy.testing.assert_array_equal(back["small"], small)
    assert back["fortran"].flags.f_contiguous and back["big"].flags.writeable


def test_values_without_big_buffers_stay_plain_pickles():
    pieces = serialize.dumps({"a": numpy.zeros(1000), "s": "x" * (2 * MiB)})
    assert not serialize.has_big_buffers(pieces)
    copies, tickets = serialize.share(pieces, [os.getpid()])
    assert copies == [pieces] and tickets == []


def test_each_consumer_gets_a_copy_on_write_mapping_of_its_own():
    original = numpy.arange(MiB // 4, dtype=numpy.float64)  # 2 MiB
    copies, tickets = shared(original, consumers=2)
    assert len(set(tickets)) == 2
    first, second = serialize.loads(copies[0]), serialize.loads(copies[1])
    first[:10] = -1.0
    assert second[0] == 0.0 and original[0] == 0.0
    numpy.testing.assert_array_equal(second, original)


def test_a_segment_in_use_is_never_overwritten_and_an_idle_one_is_reused():
    a, b = (numpy.full(MiB // 8 + 3, float(v)) for v in (1, 2))  # a size no other test uses
    held = serialize.loads(shared(a)[0][0])
    files = ours()
    again = serialize.loads(shared(b)[0][0])  # same size, but `held` still maps the first
    assert float(held[0]) == 1.0 and float(again[0]) == 2.0
    assert len(ours() - files) == 1
    del held
    files = ours()
    third = serialize.loads(shared(a)[0][0])  # the first segment is idle now: reused
    assert ours() == files and float(third[0]) == 1.0 and float(again[0]) == 2.0


def test_idle_segments_beyond_the_limit_are_removed(monkeypatch):
    monkeypatch.setattr(shmpool, "IDLE_MAX", 3 * MiB)
    for size in range(1, 6):
        serialize.loads(shared(numpy.zeros(size * MiB // 8 + 1))[0][0])  # each dropped at once
    serialize.loads(shared(numpy.zeros(MiB // 8 + 7))[0][0])
    sizes = [os.stat(os.path.join(shm.SHM_DIR, n)).st_size for n in ours()]
    assert sum(sizes) <= 3 * MiB + (MiB + 56), sizes


def test_segments_past_the_kept_limit_are_retired_but_stay_readable(monkeypatch):
    monkeypatch.setattr(shmpool, "KEPT_MAX", 2)
    held = [serialize.loads(shared(numpy.full(MiB // 8 + 9, float(v)))[0][0]) for v in range(5)]
    assert len([s for s in shmpool._segments if s.kept]) <= 2
    assert len(ours()) <= 2
    assert [float(h[-1]) for h in held] == [0.0, 1.0, 2.0, 3.0, 4.0]
    del held
    serialize.loads(shared(numpy.zeros(MiB // 8 + 9))[0][0])
    assert all(s.kept for s in shmpool._segments)  # the retired ones are forgotten


def test_past_the_mapping_budget_segments_are_copied_and_free_at_once(monkeypatch):
    monkeypatch.setattr(shm, "mapping_budget", lambda: 0)
    a = numpy.arange(MiB // 8 + 11, dtype=numpy.float64)
    first = serialize.loads(shared(a)[0][0])
    files = ours()
    second = serialize.loads(shared(a + 1)[0][0])  # the segment of `first` is idle: reused
    assert ours() == files
    numpy.testing.assert_array_equal(first, a)
    numpy.testing.assert_array_equal(second, a + 1)
    first[0] = -1.0
    assert second[0] == 1.0 and first.flags.writeable


def spares_ready():
    """Wait for the threads allocating spares to finish (joined, not polled)."""
    for thread in threading.enumerate():
        if thread.name == "kernel-shm-spare":
            thread.join(30)
            assert not thread.is_alive(), "a spare segment was never ready"


def test_a_push_gets_a_spare_so_the_next_one_of_its_size_needs_no_new_segment(monkeypatch):
    monkeypatch.setattr(shmpool, "SPARE_MIN", 2 * MiB)
    a, b = (numpy.full(2 * MiB // 8 + 5, float(v)) for v in (1, 2))  # a size no other test uses
    before = ours()
    held = serialize.loads(serialize.share(serialize.dumps(a), [os.getpid()], spare=True)[0][0])
    spares_ready()
    files = ours()
    assert len(files - before) == 2  # the segment `held` maps, and its spare
    again = serialize.loads(serialize.share(serialize.dumps(b), [os.getpid()], spare=True)[0][0])
    assert ours() == files  # copied into the spare: no new segment, and no further spare
    assert float(held[-1]) == 1.0 and float(again[-1]) == 2.0


def test_no_spare_unless_asked_or_when_two_would_pass_the_idle_limit(monkeypatch):
    monkeypatch.setattr(shmpool, "SPARE_MIN", 2 * MiB)
    array = numpy.zeros(2 * MiB // 8 + 7)
    before = ours()
    held = [serialize.loads(shared(array)[0][0])]  # share() without spare=True: an engine's reply
    assert len(ours() - before) == 1
    monkeypatch.setattr(shmpool, "IDLE_MAX", 3 * MiB)
    held.append(serialize.loads(serialize.share(serialize.dumps(array + 1), [os.getpid()], spare=True)[0][0]))
    spares_ready()
    assert len(ours() - before) == 2 and float(held[1][0]) == 1.0


def test_a_spare_that_finds_no_room_is_dropped(monkeypatch):
    monkeypatch.setattr(shmpool, "SPARE_MIN", 2 * MiB)
    real_pwrite = os.pwrite

    def full_for_spares(fd, data, offset):
        if threading.current_thread().name == "kernel-shm-spare":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", full_for_spares)
    before = ours()
    held = serialize.loads(serialize.share(serialize.dumps(numpy.ones(2 * MiB // 8 + 9)), [os.getpid()],
                                           spare=True)[0][0])
    spares_ready()
    assert len(ours() - before) == 1 and held.sum() == held.size


def test_a_spare_retired_before_its_thread_runs_never_makes_its_file(monkeypatch):
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *args: opened.append(path) or real_open(path, *args))
    spare = shmpool._Segment(shmpool._new_name(), 2 * MiB, ready=False)
    spare.retire()  # as the exit's clean-up does: a file made after it would outlive the process
    shmpool._allocate_spare(spare)
    assert shm.path(spare.name) not in opened and not spare.ready


def test_a_segment_bigger_than_the_idle_limit_is_never_kept(monkeypatch):
    monkeypatch.setattr(shmpool, "IDLE_MAX", MiB)
    array = numpy.zeros(MiB // 8 + 13)

    def of_its_size():
        return {n for n in ours() if os.stat(os.path.join(shm.SHM_DIR, n)).st_size == array.nbytes}

    copies, tickets = shared(array)
    assert of_its_size() == set(tickets)  # only the ticket: the segment's own name is gone
    back = serialize.loads(copies[0])
    assert of_its_size() == set() and back.sum() == 0


def test_a_full_dev_shm_sends_the_buffer_inline(monkeypatch):
    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    before = ours()
    array = numpy.arange(3 * MiB // 8, dtype=numpy.float64)
    copies, tickets = shared(array)
    assert tickets == [] and not copies[0][0].startswith(serialize.ENVELOPE)
    numpy.testing.assert_array_equal(serialize.loads(copies[0]), array)
    assert ours() == before


# -- cleanup --------------------------------------------------------------------------------


def test_tickets_of_a_consumer_that_died_are_removed_when_the_next_segment_is_made():
    pieces = serialize.dumps(numpy.zeros(MiB // 4))
    _, tickets = serialize.share(pieces, [dead_pid()])
    assert tickets_out() == 1
    copies, _ = serialize.share(pieces, [os.getpid()])
    assert tickets_out() == 1  # only the new one
    serialize.loads(copies[0])
    assert not os.path.exists(os.path.join(shm.SHM_DIR, tickets[0]))


def test_unlink_withdraws_tickets_never_taken():
    copies, tickets = shared(numpy.zeros(MiB // 4))
    shmpool.withdraw(tickets)
    with pytest.raises(shm.SharedMemoryError, match="does not exist: it was already removed"):
        serialize.loads(copies[0])


def test_sweep_removes_only_regular_files_of_dead_creators_in_this_namespace(tmp_path):
    tag = shm.namespace_tag()
    other_tag = "0" * 8 if tag != "0" * 8 else "1" * 8
    dead, alive = dead_pid(), os.getpid()
    names = {
        "dead": f"kernel-{dead}-{tag}{'a' * 24}",
        "alive": f"kernel-{alive}-{tag}{'b' * 24}",
        "other_namespace": f"kernel-{dead}-{other_tag}{'c' * 24}",
        "dead_symlink": f"kernel-{dead}-{tag}{'d' * 24}",
    }
    paths = {k: os.path.join(shm.SHM_DIR, n) for k, n in names.items()}
    for key in ("dead", "alive", "other_namespace"):
        with open(paths[key], "wb") as f:
            f.write(b"x")
    os.symlink(tmp_path, paths["dead_symlink"])
    try:
        shm.sweep()
        assert {k for k, p in paths.items() if os.path.lexists(p)} == {"alive", "other_namespace", "dead_symlink"}
    finally:
        for p in paths.values():
            if os.path.lexists(p):
                os.unlink(p)


def test_a_forked_child_leaves_its_parents_segments_alone():
    copies, _ = shared(numpy.zeros(MiB // 4))
    pid = os.fork()
    if pid == 0:
        os._exit(0 if not shmpool._segments else 1)
    assert os.waitpid(pid, 0)[1] == 0
    serialize.loads(copies[0])


# -- refusing bad input -------------------------------------------------------------------------


@pytest.fixture
def segment():
    """A real segment of 2 MiB and its ticket, withdrawn afterwards."""
    _, tickets = shared(numpy.zeros(MiB // 4))
    yield tickets[0], 2 * MiB
    shmpool.withdraw(tickets)


@pytest.mark.parametrize("name", [
    "../etc/passwd", "kernel-1-../../../etc/passwd", f"kernel-0-{'a' * 32}", f"kernel-1-{'A' * 32}",
    f"kernel-1-{'a' * 31}", f"kernel-1-{'a' * 33}", f"/dev/shm/kernel-1-{'a' * 32}", 17, None,
])
def test_only_segment_names_are_opened(name):
    with pytest.raises(shm.SharedMemoryError, match="is not a shared-memory segment name"):
        shm.attach(name, 100)


@pytest.mark.parametrize("size", [0, -1, True, 1.5, "100"])
def test_sizes_must_be_positive_ints(segment, size):
    with pytest.raises(shm.SharedMemoryError, match="bad size"):
        shm.attach(segment[0], size)


def test_a_wrong_size_is_refused(segment):
    name, size = segment
    with pytest.raises(shm.SharedMemoryError, match=f"{name} has {size} bytes, not the {size + 1} announced"):
        shm.attach(name, size + 1)


def test_a_missing_segment_names_the_likely_causes():
    with pytest.raises(shm.SharedMemoryError, match="does not exist: it was already removed .* or the "
                                                    "sender is not on this host"):
        shm.attach(f"kernel-1-{'e' * 32}", 100)


def test_symbolic_links_fifos_and_other_owners_are_refused(tmp_path):
    target = tmp_path / "target"
    target.write_bytes(b"x" * 100)
    link, fifo, foreign = (os.path.join(shm.SHM_DIR, f"kernel-1-{c * 32}") for c in "fcb")
    os.symlink(target, link)
    os.mkfifo(fifo, 0o600)
    with open(foreign, "wb") as f:
        f.write(b"x" * 100)
    try:
        with pytest.raises(shm.SharedMemoryError, match="it is a symbolic link"):
            shm.attach(os.path.basename(link), 100)
        with pytest.raises(shm.SharedMemoryError, match="is not a regular file"):
            shm.attach(os.path.basename(fifo), 100)
        if os.getuid() == 0:
            os.chown(foreign, 12345, -1)
            with pytest.raises(shm.SharedMemoryError, match="belongs to uid 12345"):
                shm.attach(os.path.basename(foreign), 100)
    finally:
        for p in (link, fifo, foreign):
            os.unlink(p)


@pytest.mark.parametrize("make, message", [
    (lambda name: envelope([[0, name, 2 * MiB]])[:len(serialize.ENVELOPE) + 2], "cut short"),
    (lambda name: serialize.ENVELOPE + serialize.MANIFEST_LENGTH.pack(999) + b"[]", "runs past"),
    (lambda name: envelope(b"[[0, "), "not JSON"),
    (lambda name: envelope({"0": name}), "must be a list"),
    (lambda name: envelope([[0, name]]), "is not \\[buffer index, segment name, size\\]"),
    (lambda name: envelope([[5, name, 2 * MiB]]), "names buffer 5, but there are 2"),
    (lambda name: envelope([[-1, name, 2 * MiB]]), "names buffer -1"),
    (lambda name: envelope([[True, name, 2 * MiB]]), "names buffer True"),
    (lambda name: envelope([[1, name, 2 * MiB]]), "names buffer 1, which is not an empty placeholder"),
    (lambda name: envelope([[0, name, 2 * MiB], [0, name, 2 * MiB]]), "named twice"),
    (lambda name: envelope([[0, "../../etc/passwd", 2 * MiB]]), "is not a shared-memory segment name"),
    (lambda name: envelope([[0, name, 3 * MiB]]), "not the 3145728 announced"),
    (lambda name: envelope([[0, name, "big"]]), "bad size 'big'"),
])
def test_bad_manifests_are_clear_errors(segment, make, message):
    with pytest.raises(shm.SharedMemoryError, match=message):
        serialize.loads([make(segment[0]), b"", b"not empty"])


def test_an_engine_reports_a_bad_push_or_pull_and_lives_on(segment):
    interp = Interpreter(engine_id=0)
    bad = envelope([[0, "../x", 10]])
    reply, _ = methods.dispatch(interp, {"cid": 1, "method": "push"}, [bad, b""])
    assert reply["status"] == "error" and reply["etype"] == "SharedMemoryError"
    assert "cannot unpickle the pushed values here" in reply["message"] and "'../x'" in reply["message"]
    for asked in ("yes", {"host_key": 1, "pid": 1}, {"host_key": "k", "pid": -3}, {"host_key": "k"}):
        reply, _ = methods.dispatch(interp, {"cid": 2, "method": "pull",
                                             "args": {"keys": "id", "shared_memory": asked}}, [])
        assert reply["status"] == "error" and "pull: shared_memory must be" in reply["message"]
    interp.push({"a": numpy.arange(MiB // 4)})
    for key, through_shm in ((shm.host_key(), True), ("0" * 64, False)):
        reply, pieces = methods.dispatch(interp, {"cid": 3, "method": "pull", "args": {
            "keys": "a", "shared_memory": {"host_key": key, "pid": os.getpid()}}}, [])
        assert reply["status"] == "ok" and pieces[0].startswith(serialize.ENVELOPE) == through_shm
        numpy.testing.assert_array_equal(serialize.loads(pieces), numpy.arange(MiB // 4))
