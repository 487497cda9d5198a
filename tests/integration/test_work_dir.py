"""Engines import the user's modules from their working directory, as 0.10's did.

0.10's MPI guide: "start the cluster in the same directory as psum.py", then
``%px from psum import psum``. The engines run where ipcluster (or
``Cluster.start()``) runs, or in ``--work-dir``; ``''`` leads their
``sys.path``.
"""

import os
import shutil

import pytest

from kernel.cluster import Cluster, ClusterError
from tests.launchers import sshd
from tests.launchers.helpers import (  # noqa: F401 (launch is a fixture)
    BIN,
    kill_processes_using,
    launch,
    mec_for,
    processes_using,
)

PSUM = "def psum(values):\n    return sum(values)\n"


@pytest.fixture
def module_dir(tmp_path):
    """A directory holding psum.py, a module no engine could import from anywhere else."""
    d = tmp_path / "work"
    d.mkdir()
    (d / "psum.py").write_text(PSUM)
    yield d
    kill_processes_using(tmp_path)


def imports_from(mec, directory):
    """Every engine imports psum from ``directory``, and runs there."""
    mec.execute("import os\nfrom psum import psum\nimport psum as m\n"
                "total, where, cwd = psum([id, 10]), m.__file__, os.getcwd()")
    n = len(mec.get_ids())
    assert mec.pull("total") == [i + 10 for i in mec.get_ids()]
    assert mec.pull("where") == [os.path.join(str(directory), "psum.py")] * n
    assert mec.pull("cwd") == [str(directory)] * n
    return True


def test_a_cluster_started_in_the_module_directory_imports_from_it(module_dir, monkeypatch):
    monkeypatch.chdir(module_dir)
    with Cluster(n=2) as c:
        assert imports_from(c.mec(), module_dir)
    assert processes_using(c.ipythondir) == []


def test_work_dir_elsewhere_is_where_the_engines_run(module_dir, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with Cluster(n=1, ipythondir=tmp_path / "d", work_dir=module_dir) as c:
        assert imports_from(c.mec(), module_dir)
    assert processes_using(tmp_path / "d") == []


def test_ipcluster_work_dir(module_dir, launch, tmp_path):
    d = tmp_path / "d"
    run = launch("-n", "2", "--ipythondir", d, "--work-dir", module_dir)
    run.wait_ready()
    mec = mec_for(d)
    assert imports_from(mec, module_dir)
    mec.close()


def test_a_missing_work_dir_stops_the_start_with_the_engines_words(tmp_path):
    d = tmp_path / "d"
    c = Cluster(n=1, ipythondir=d, work_dir=tmp_path / "nowhere", timeout=30)
    with pytest.raises(ClusterError) as caught:
        c.start()
    assert f"--work-dir {tmp_path / 'nowhere'}: No such file or directory" in str(caught.value)
    assert processes_using(d) == []


@pytest.mark.skipif(shutil.which("mpiexec") is None, reason="mpiexec not installed (apt-get install openmpi-bin)")
def test_mpiexec_ranks_run_in_the_work_dir(module_dir, tmp_path):
    env = dict(os.environ, OMPI_MCA_rmaps_base_oversubscribe="1")
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    with Cluster(n=2, ipythondir=tmp_path / "d", launcher="mpiexec", work_dir=module_dir, env=env) as c:
        assert imports_from(c.mec(), module_dir)
    assert processes_using(tmp_path / "d") == []


@pytest.mark.skipif(sshd.available() is not None, reason=str(sshd.available()))
def test_ssh_engines_run_in_the_remote_work_dir(module_dir, tmp_path):
    server = sshd.SSHServer(tmp_path / "sshd")
    server.start()
    try:
        clusterfile = tmp_path / "clusterfile.py"
        clusterfile.write_text(f"engines = {{'node1': 1}}\nssh = {' '.join(server.ssh_command())!r}\n"
                               f"engine_cmd = {str(BIN / 'ipengine')!r}\n"
                               f"remote_ipythondir = {str(tmp_path / 'remote')!r}\n")
        with Cluster(ipythondir=tmp_path / "d", launcher="ssh", clusterfile=clusterfile,
                     work_dir=module_dir) as c:
            assert imports_from(c.mec(), module_dir)
    finally:
        server.stop()
