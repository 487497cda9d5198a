"""tc.timeline() and tc.plot_timeline(): records from the controller, a PNG that shows them;
and progress bars on a real cluster."""

import io

import numpy
import pytest

from kernel.client import progress
from kernel.client.task import MapTask, StringTask
from kernel.client.taskclient import TaskClient
from kernel.client.timeline import COLORS
from tests.harness import wait_for


def _fails(x):
    raise ValueError(x)


def _rgb(hex_color):
    return numpy.array([int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)])


def _mask(image, hex_color, tolerance=0.02):
    return numpy.all(numpy.abs(image[:, :, :3] - _rgb(hex_color)) < tolerance, axis=2)


def _rows_with(image, hex_color):
    return set(numpy.nonzero(_mask(image, hex_color).any(axis=1))[0])


def _columns_with(image, hex_color):
    return set(numpy.nonzero(_mask(image, hex_color).any(axis=0))[0])


@pytest.fixture
def tc(cluster):
    client = TaskClient(cluster.tc_furl)
    yield client
    client.close()


def test_timeline_records(tc):
    ok = [tc.run(MapTask(pow, (2, i))) for i in range(6)]
    bad = tc.run(MapTask(_fails, (1,)))
    tc.barrier(ok + [bad])
    records = tc.timeline()
    assert [r["taskid"] for r in records] == sorted(ok + [bad])
    by_id = {r["taskid"]: r for r in records}
    for taskid in ok:
        r = by_id[taskid]
        assert r["status"] == "succeeded" and r["engineid"] in (0, 1)
        assert r["submitted"] <= r["completed"] and r["started"] <= r["finished"]
        assert r["failures"] == 0
    assert by_id[bad]["status"] == "failed" and by_id[bad]["failures"] == 1
    assert [r["taskid"] for r in tc.timeline(ok[:2])] == ok[:2]
    assert tc.timeline(ok[0])[0]["taskid"] == ok[0]


def test_timeline_shows_unfinished_tasks(tc):
    blocker = tc.run(StringTask("import time\nwhile not done: time.sleep(0.01)", push={"done": False}))
    # the blocker loops until interrupted or aborted; it is visible as pending meanwhile
    wait_for(lambda: tc.timeline(blocker)[0]["status"] == "pending", what="the task to start")
    record = tc.timeline([blocker])[0]
    assert record["completed"] is None and record["engineid"] in (0, 1)
    tc.abort(blocker)
    tc.barrier(blocker)
    assert tc.timeline(blocker)[0]["status"] == "failed"


def test_plot_timeline_draws_the_tasks(tc, tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread

    ids = [tc.run(StringTask("import time; time.sleep(0.05)")) for _ in range(8)]
    ids.append(tc.run(MapTask(_fails, (2,))))
    tc.barrier(ids)
    path = tmp_path / "timeline.png"
    assert tc.plot_timeline(path, figsize=(8, 3), dpi=100, legend=False) == 9
    image = imread(path)
    assert image.shape[:2] == (300, 800)
    succeeded, failed = _rows_with(image, COLORS["succeeded"]), _rows_with(image, COLORS["failed"])
    assert len(succeeded) > 20 and len(failed) > 20  # bars (no legend here), one per engine row
    assert failed <= succeeded  # the failed task is in a row of engine bars
    # the bars spread along the time axis, far wider than a legend swatch
    assert len(_columns_with(image, COLORS["succeeded"])) > 200
    records = tc.timeline(ids)
    assert {r["engineid"] for r in records if r["status"] == "succeeded"} == {0, 1}


def test_plot_timeline_marks_retries(tc, tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread

    flaky = StringTask("import os\nif not os.path.exists(p):\n    open(p, 'w').close()\n    raise OSError('first try')",
                       push={"p": str(tmp_path / "marker")}, retries=2)
    taskid = tc.run(flaky)
    tc.barrier(taskid)
    [record] = tc.timeline(taskid)
    assert record["status"] == "succeeded" and record["failures"] == 1
    path = tmp_path / "retry.png"
    tc.plot_timeline(path, taskids=[taskid], legend=False)
    image = imread(path)
    assert len(_rows_with(image, COLORS["retried"])) > 20
    assert not _rows_with(image, COLORS["succeeded"]) and not _rows_with(image, COLORS["failed"])


def test_progress_bars_on_a_cluster(cluster, tc, monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr("sys.stderr", out)
    monkeypatch.setattr(progress, "in_notebook", lambda: False)
    assert tc.map(abs, range(-30, 0), progress=True) == list(range(30, 0, -1))
    text = out.getvalue()
    assert "30/30" in text
    ids = [tc.run(MapTask(abs, (i,))) for i in range(12)]
    tc.barrier(ids, progress=True)
    assert "12/12" in out.getvalue()
    mec = cluster.client()
    try:
        prs = [mec.execute("x = 1", block=False) for _ in range(4)]
        mec.barrier(prs, progress=True)
        assert "4/4" in out.getvalue()
        assert all(pr.called for pr in prs)
    finally:
        mec.close()
    # the default in a script (stderr is not a terminal): nothing is shown
    before = out.getvalue()
    assert tc.map(abs, range(5)) == list(range(5))
    tc.barrier(ids)
    assert out.getvalue() == before
