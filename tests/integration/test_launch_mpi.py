"""ipcluster mpiexec/mpirun with Debian's Open MPI: engines are MPI ranks.

Open MPI refuses to run as root unless told; these tests allow it through the
environment of the processes they start (only there). ``--oversubscribe``
lets 3 ranks run on a 2-core machine.
"""

import os
import shutil
import signal
import subprocess
import sys

import pytest

from kernel.cluster import Cluster, ClusterError
from tests.launchers.helpers import (  # noqa: F401 (launch is a fixture)
    engine_processes,
    kill_processes_using,
    launch,
    mec_for,
    processes_using,
    run_ipcluster,
)

MPIEXEC = shutil.which("mpiexec")


def _mpi4py_loads():
    if MPIEXEC is None:
        return False
    probe = subprocess.run([sys.executable, "-c", "from mpi4py import MPI"], capture_output=True, timeout=60)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not installed (apt-get install openmpi-bin)")


@pytest.fixture(scope="module")
def mpi_env():
    env = dict(os.environ)
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    env["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
    return env


def test_ipcluster_mpiexec_with_mpi4py_gives_rank_ids_and_a_working_mpi(launch, tmp_path, mpi_env):
    if not _mpi4py_loads():
        pytest.skip("mpi4py is not importable with this MPI (pip install mpi4py)")
    d = tmp_path / "d"
    run = launch("mpiexec", "-n", "3", "--mpi", "mpi4py", "--ipythondir", d, env=mpi_env)
    run.wait_ready()
    assert "3 engines registered" in run.output
    mec = mec_for(d)
    ids = mec.get_ids()
    assert ids == [0, 1, 2]
    mec.execute("rank, size = mpi.rank, mpi.size\n"
                "total = mpi.COMM_WORLD.allreduce(rank)\n"
                "right = mpi.COMM_WORLD.sendrecv(rank, dest=(rank + 1) % size, source=(rank - 1) % size)")
    assert mec.pull("rank") == ids  # each engine's id is its MPI rank
    assert mec.pull("size") == [3, 3, 3]
    assert mec.pull("total") == [3, 3, 3]
    assert mec.pull("right") == [2, 0, 1]
    assert len(engine_processes(d)) == 3
    mec.close()
    code, out = run_ipcluster(["stop", "--ipythondir", d])
    assert code == 0, out
    assert run.wait() == 0
    assert processes_using(d) == []


def test_mpirun_without_mpi4py_from_the_python_api(tmp_path, mpi_env):
    d = tmp_path / "d"
    try:
        with Cluster(n=2, ipythondir=d, launcher="mpirun", env=mpi_env) as c:
            mec = c.mec()
            assert mec.get_ids() == [0, 1]
            mec.execute("import os\nr = os.environ.get('OMPI_COMM_WORLD_RANK')\nm = mpi")
            assert sorted(mec.pull("r")) == ["0", "1"]
            assert mec.pull("m") == [None, None]
            mpirun = [p for p, cmd in processes_using(d) if cmd.split()[0].endswith("mpirun")]
            assert len(mpirun) == 1
        assert processes_using(d) == []
    finally:
        kill_processes_using(tmp_path)


def test_mpiexec_that_fails_is_reported_at_once(tmp_path, mpi_env):
    d = tmp_path / "d"
    c = Cluster(n=2, ipythondir=d, launcher="mpiexec", env=mpi_env, mpi_args=["--no-such-flag"])
    try:
        with pytest.raises(ClusterError) as caught:
            c.start()
        assert "exited with code" in caught.value.reason
        assert "no-such-flag" in caught.value.report
        assert processes_using(d) == []
    finally:
        kill_processes_using(tmp_path)


def test_sigint_stops_mpiexec_and_every_rank(launch, tmp_path, mpi_env):
    d = tmp_path / "d"
    run = launch("mpirun", "-n", "2", "--ipythondir", d, env=mpi_env)
    run.wait_ready()
    assert len(engine_processes(d)) == 2
    run.signal(signal.SIGINT)
    assert run.wait() == 0
    assert processes_using(d) == []
