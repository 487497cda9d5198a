"""The Python API: ``with Cluster(n) as c`` starts a cluster and always stops it."""

import pytest

from kernel import client
from kernel.cluster import Cluster, ClusterError
from tests.launchers.helpers import do_work, engine_processes, kill_processes_using, processes_using


@pytest.fixture
def cleanup(tmp_path):
    dirs = [tmp_path]
    yield dirs
    for d in dirs:
        kill_processes_using(d)


def test_with_cluster_in_a_temporary_directory(cleanup):
    with Cluster(n=2) as c:
        cleanup.append(c.ipythondir)
        assert c.ipythondir.is_dir()
        assert c.mec_furl_file.is_file() and c.engine_furl_file.is_file()
        assert do_work(c.mec(), 2) == [0, 1]
        assert c.engine_ids() == [0, 1]
        assert len(engine_processes(c.ipythondir)) == 2
        info = c.connection_info()
        assert str(c.mec_furl_file) in info and str(c.logdir) in info
    assert not c.running
    assert processes_using(c.ipythondir) == []
    assert not c.ipythondir.exists()  # the temporary directory is removed
    with pytest.raises(ClusterError, match="not running"):
        c.mec()


def test_cluster_in_a_given_directory_keeps_it(tmp_path):
    d = tmp_path / "d"
    c = Cluster(n=1, ipythondir=d, timeout=60)
    try:
        c.start()
        assert c.ipythondir == d
        mec = c.mec()
        mec.execute("x = 6 * 7")
        assert mec.pull("x") == [42]
        if hasattr(client, "TaskClient") and c.tc_furl_file.exists():
            tc = c.tc()
            assert tc is not None
    finally:
        assert c.stop() == []
    assert c.stop() == []  # idempotent
    assert processes_using(d) == []
    assert (d / "security" / "ipcontroller-mec.furl").exists()
    assert list((d / "log").glob("ipengine-*.log"))


def test_failure_raises_with_the_engine_output_and_stops_everything(tmp_path):
    d = tmp_path / "d"
    c = Cluster(n=2, ipythondir=d, engine_args=["--furl-file", str(tmp_path / "none.furl"), "--furl-wait", "0.2"])
    with pytest.raises(ClusterError) as caught:
        c.start()
    assert "exited with code 2" in caught.value.reason
    assert "no FURL file" in caught.value.report
    assert not c.running
    assert processes_using(d) == []


def test_bad_launcher_options_are_reported_before_anything_starts(tmp_path):
    with pytest.raises(ClusterError, match="no cluster file"):
        Cluster(launcher="ssh", ipythondir=tmp_path / "d", clusterfile=tmp_path / "nope.py").start()
    with pytest.raises(ValueError, match="client and engine ports"):
        Cluster(reuse_furls=True)
    assert processes_using(tmp_path) == []
