"""ipcluster pbs, sge and lsf: the generated job scripts, run by stand-in submit commands.

No PBS or LSF is packaged for Debian, so ``qsub``/``bsub`` here are stand-ins
(tests/launchers/batch_standin.py) that run the submitted script's array
tasks on this machine; ``qdel``/``bkill`` stop exactly those processes.
"""

import os
import re
import signal

import pytest

from tests.launchers import batch_standin
from tests.launchers.helpers import IPCluster, do_work, kill_processes_using, mec_for, processes_using

KINDS = {
    # kind: (array directive, queue directive, index variable, cancel command)
    "pbs": ("#PBS -J 1-3", "#PBS -q short", "PBS_ARRAY_INDEX", "qdel"),
    "sge": ("#$ -t 1-3", "#$ -q short", "SGE_TASK_ID", "qdel"),
    "lsf": ("#BSUB -J ipengine[1-3]", "#BSUB -q short", "LSB_JOBINDEX", "bkill"),
}


@pytest.fixture
def standin(tmp_path):
    made = []

    def make(kind):
        bindir = batch_standin.install(tmp_path / "bin", tmp_path / "jobs", kind)
        made.append(tmp_path)
        return tmp_path / "jobs", dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")

    yield make
    kill_processes_using(tmp_path)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_batch_launcher_script_submit_and_cancel(kind, standin, tmp_path):
    array, queue, index_var, cancel = KINDS[kind]
    jobs, env = standin(kind)
    d = tmp_path / "d"
    run = IPCluster([kind, "-n", "3", "--queue", "short", "--ipythondir", d], tmp_path / "ipcluster.out", env)
    try:
        run.wait_ready()
        jid = re.search(r"job (\d+)", run.output).group(1)
        script = (jobs / f"job-{jid}.sh").read_text()
        assert script == next((d / "log").glob(f"ipcluster-*-{kind}.sh")).read_text()
        lines = script.splitlines()
        assert lines[0] == "#!/bin/sh"
        assert array in lines and queue in lines
        assert lines[-1].startswith("exec ") and "ipengine" in lines[-1]
        assert f"--furl-file {d}/security/ipcontroller-engine.furl" in lines[-1]
        mec = mec_for(d)
        assert do_work(mec, 3) == [0, 1, 2]
        mec.execute(f"import os\nindex = os.environ['{index_var}']")
        assert sorted(mec.pull("index")) == ["1", "2", "3"]
        mec.close()
        run.signal(signal.SIGINT)
        assert run.wait() == 0
    finally:
        run.kill()
    calls = (jobs / "calls.log").read_text().splitlines()
    assert calls[0].split()[0] == ("bsub" if kind == "lsf" else "qsub")
    assert any(c.split()[0] == cancel and c.split()[-1].startswith(jid) for c in calls)
    assert processes_using(d) == []
