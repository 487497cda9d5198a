"""Block partitioning for scatter, gather and map, and how a TaskClient's map sends and collects its tasks."""

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel import errors
from kernel.client import maps
from kernel.client.taskclient import TaskClient


def blocks(seq, q):
    return [maps.partition(seq, p, q) for p in range(q)]


def test_first_blocks_are_one_longer():
    assert blocks(list(range(10)), 4) == [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]
    assert blocks(list(range(16)), 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
    assert blocks([1, 2], 4) == [[1], [2], [], []]
    assert blocks([], 3) == [[], [], []]


def test_ranges_give_lists_strings_stay_strings():
    assert blocks(range(5), 2) == [[0, 1, 2], [3, 4]]
    assert blocks("abcdefgh", 4) == ["ab", "cd", "ef", "gh"]
    assert blocks((1, 2, 3), 2) == [(1, 2), (3,)]


def test_array_blocks_are_views_along_the_first_axis():
    a = numpy.arange(12).reshape(6, 2)
    parts = blocks(a, 4)
    assert [p.shape for p in parts] == [(2, 2), (2, 2), (1, 2), (1, 2)]
    assert all(numpy.shares_memory(p, a) for p in parts)


@given(st.lists(st.integers()), st.integers(min_value=1, max_value=9))
def test_blocks_rejoin_to_the_sequence(seq, q):
    parts = blocks(seq, q)
    assert maps.join(parts) == seq
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True)


def test_join():
    assert maps.join([]) == []
    assert maps.join([[1], (2, 3), []]) == [1, 2, 3]
    assert maps.join(["ab", "cd"]) == ["ab", "cd"]
    assert maps.join([1, 2]) == [1, 2]
    joined = maps.join([numpy.arange(2), numpy.arange(2, 5)])
    assert isinstance(joined, numpy.ndarray) and joined.tolist() == [0, 1, 2, 3, 4]


def test_as_sequence():
    assert maps.as_sequence(x for x in range(3)) == [0, 1, 2]
    assert maps.as_sequence({3}) == [3]
    assert maps.as_sequence({"k": 1}) == ["k"]
    r = range(3)
    assert maps.as_sequence(r) is r
    with pytest.raises(TypeError, match="cannot partition a int"):
        maps.as_sequence(5)
    with pytest.raises(TypeError, match="0-dimensional"):
        maps.as_sequence(numpy.array(1))


def test_distribution():
    assert maps.distribution("b") == (maps.partition, maps.join)
    with pytest.raises(ValueError, match="unknown distribution 'c'"):
        maps.distribution("c")
    with pytest.raises(ValueError, match="unknown distribution"):
        maps.distribution(["b"])


# -- MapStream: a TaskClient's map on its way --------------------------------------------------


class FakeTasksClient:
    """The four calls of a TaskClient that MapStream makes, over a pretend controller.

    It keeps a log of what was sent (``("run", n)`` or ``("get", ids)``),
    checks that no more than ``outstanding`` tasks are ever submitted and
    not collected, and can answer a wait with a timeout by timing out once.
    """

    def __init__(self, outstanding=None, time_out_once=False):
        self.log = []
        self.answers = {}
        self.rids = iter(range(1, 10**6))
        self.next_id = 100
        self.submitted = self.collected = 0
        self.outstanding = outstanding
        self.time_out_once = time_out_once
        self.forgotten = []

    def _run_request(self, tasks, shared=None):
        return {"tasks": list(tasks)}, []

    def _send(self, header, buffers=()):
        rid = next(self.rids)
        if "tasks" in header:
            n = len(header["tasks"])
            self.submitted += n
            if self.outstanding is not None:
                assert self.submitted - self.collected <= self.outstanding
            self.log.append(("run", n))
            self.answers[rid] = (list(range(self.next_id, self.next_id + n)), [])
            self.next_id += n
        else:
            ids = header["taskids"]
            assert header["block"] is True
            self.log.append(("get", ids))
            self.answers[rid] = ([{"taskid": t, "n": 1} for t in ids], [b"%d" % t for t in ids])
        return rid

    def _answer(self, rid, timeout=None):
        value, buffers = self.answers.pop(rid)
        if isinstance(value[0], dict):
            if timeout is not None and self.time_out_once:
                self.time_out_once = False
                self.answers[rid] = (value, buffers)
                raise errors.ControllerTimeout("no answer yet")
            self.collected += len(value)
        return value, buffers

    def _forget(self, rids):
        self.forgotten += rids
        for rid in rids:
            self.answers.pop(rid, None)

    _unpack_results = staticmethod(TaskClient._unpack_results)


def test_message_sizes_start_small_and_double_up_to_the_most():
    assert maps.message_sizes(0) == []
    assert maps.message_sizes(5) == [5]
    assert maps.message_sizes(400, 16, 64) == [16, 32, 64, 64, 64, 64, 64, 32]
    assert maps.message_sizes(10, 3, 4) == [3, 4, 3]
    with pytest.raises(ValueError, match="1 <= first <= most"):
        maps.message_sizes(10, 0, 4)
    with pytest.raises(ValueError, match="1 <= first <= most"):
        maps.message_sizes(10, 8, 4)


@given(st.integers(min_value=0, max_value=3000))
def test_a_map_goes_in_short_messages_and_its_results_come_in_order(n):
    client = FakeTasksClient()
    results = [(meta["taskid"], bytes(group[0])) for meta, group in maps.MapStream(client, range(n)).results()]
    assert results == [(100 + i, b"%d" % (100 + i)) for i in range(n)]
    runs = [size for kind, size in client.log if kind == "run"]
    assert sum(runs) == n and runs == maps.message_sizes(n)
    assert all(size <= maps.MESSAGE_MOST for size in runs) and runs[:1] == [min(n, maps.MESSAGE_FIRST)][:len(runs)]
    assert [t for kind, ids in client.log if kind == "get" for t in ids] == list(range(100, 100 + n))
    assert not client.answers and not client.forgotten


def test_the_results_of_the_first_messages_are_asked_for_while_later_ones_are_sent():
    """The tail: what is left to fetch after the last task is one message's results, not the map's."""
    client = FakeTasksClient()
    list(maps.MapStream(client, range(1000)).results())
    kinds = [kind for kind, _ in client.log]
    last_run = len(kinds) - 1 - kinds[::-1].index("run")
    assert kinds.index("get") < 3
    assert kinds[last_run + 1:] == ["get", "get"] and len(client.log[-1][1]) <= maps.MESSAGE_MOST


@pytest.mark.parametrize("outstanding", [1, 64, 100, 500])
def test_no_more_tasks_are_submitted_and_not_collected_than_allowed(outstanding):
    allowed = max(outstanding, maps.MESSAGE_MOST)
    client = FakeTasksClient(outstanding=allowed)
    stream = maps.MapStream(client, range(1200), outstanding=outstanding)
    assert len(list(stream.results())) == 1200


def test_the_default_limit_is_read_when_the_map_starts(monkeypatch):
    monkeypatch.setattr(maps, "MAP_OUTSTANDING", 100)
    client = FakeTasksClient(outstanding=100)
    assert len(list(maps.MapStream(client, range(700)).results())) == 700


def test_leaving_the_loop_early_drops_the_answers_still_to_come():
    client = FakeTasksClient()
    stream = maps.MapStream(client, range(300))
    results = stream.results()
    next(results)
    waiting = stream.taskids()  # submitted, not collected: what Ctrl-C stops
    assert waiting == list(range(100 + maps.MESSAGE_FIRST, 100 + client.submitted))
    results.close()
    assert client.forgotten and not client.answers and stream.taskids() == waiting


def test_a_non_blocking_map_gives_every_id_in_order():
    client = FakeTasksClient()
    assert maps.MapStream(client, range(333)).submit() == list(range(100, 433))
    assert [kind for kind, _ in client.log] == ["run"] * len(maps.message_sizes(333))
    assert not client.answers and not client.forgotten


def test_a_progress_tick_while_a_message_is_still_running():
    client = FakeTasksClient(time_out_once=True)
    ticks = []
    assert len(list(maps.MapStream(client, range(10)).results(lambda: ticks.append(1)))) == 10
    assert ticks == [1]
