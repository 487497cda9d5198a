"""A TaskClient's map on a real cluster: sent in short messages, at most so many tasks in flight,
its results in order (``kernel.client.maps.MapStream``)."""

import pytest

from kernel.client import maps
from kernel.client.taskclient import TaskClient


def _fails_at_the_end(x):
    if x == 299:
        raise ValueError("the last one")
    return x


@pytest.fixture
def tc(cluster):
    client = TaskClient(cluster.tc_furl)
    yield client
    client.close()


@pytest.fixture
def messages(tc, monkeypatch):
    """The number of tasks in each run message the client sends."""
    sizes = []
    send = tc._send

    def counting(header, buffers=()):
        if header.get("op") == "run":
            sizes.append(len(header["tasks"]))
        return send(header, buffers)

    monkeypatch.setattr(tc, "_send", counting)
    return sizes


def test_a_long_map_goes_in_short_messages_and_the_engines_start_before_it_is_all_sent(
        tc, messages, monkeypatch):
    monkeypatch.setattr(maps, "MAP_OUTSTANDING", maps.MESSAGE_MOST)  # the least it can be
    assert tc.map(lambda x: x * x, range(500)) == [x * x for x in range(500)]
    assert messages == maps.message_sizes(500)
    records = tc.timeline()[-500:]
    assert min(r["started"] for r in records) < max(r["submitted"] for r in records)
    assert len({r["engineid"] for r in records}) == 2


def test_the_first_failure_is_raised_and_the_other_results_are_not_lost(tc, messages):
    with pytest.raises(ValueError, match="the last one"):
        tc.map(_fails_at_the_end, range(300))
    ids = tc.mapper(block=False).map(abs, range(-150, 150))
    assert ids == list(range(ids[0], ids[0] + 300))
    tc.barrier(ids)
    assert [tc.get_task_result(t) for t in ids] == [abs(x) for x in range(-150, 150)]
    assert tc.map(lambda *xs: sum(xs), range(100), range(100), chunksize=7) == [2 * x for x in range(100)]
    assert max(messages) == maps.MESSAGE_MOST
