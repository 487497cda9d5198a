"""ipcluster slurm on a real single-node Slurm (munged + slurmctld + slurmd) started here."""

import re
import signal

import pytest

from tests.launchers import slurm
from tests.launchers.helpers import IPCluster, do_work, kill_processes_using, mec_for, processes_using, run_ipcluster

pytestmark = pytest.mark.skipif(slurm.available() is not None, reason=str(slurm.available()))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("slurm")
    s = slurm.SlurmCluster(base)
    try:
        s.start()
        yield s
    finally:
        s.stop()
        kill_processes_using(base)


@pytest.fixture
def launch(tmp_path, cluster):
    runs = []

    def start(*args):
        run = IPCluster(args, tmp_path / f"ipcluster-{len(runs)}.out", cluster.env)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.kill()
    cluster.run("scancel", "--user=0")
    kill_processes_using(tmp_path)


def job_id(output):
    return re.search(r"in Slurm job (\d+)", output).group(1)


def test_ipcluster_slurm_runs_engines_as_a_job_array(cluster, launch, tmp_path):
    d = tmp_path / "d"
    run = launch("slurm", "-n", "3", "--queue", "debug", "--ipythondir", d)
    run.wait_ready(timeout=120)
    jid = job_id(run.output)
    script = next((d / "log").glob("ipcluster-*-slurm.sh")).read_text()
    assert "#SBATCH --array=1-3" in script and "#SBATCH --partition=debug" in script
    assert str(d / "security" / "ipcontroller-engine.furl") in script
    mec = mec_for(d)
    assert do_work(mec, 3) == [0, 1, 2]
    mec.execute("import os\njob = os.environ['SLURM_ARRAY_JOB_ID']\ntask = os.environ['SLURM_ARRAY_TASK_ID']")
    assert mec.pull("job") == [jid] * 3
    assert sorted(mec.pull("task")) == ["1", "2", "3"]
    mec.close()
    assert len(cluster.run("squeue", "-h", "-j", jid).stdout.split("\n")) >= 3
    code, out = run_ipcluster(["stop", "--ipythondir", d], env=cluster.env)
    assert code == 0, out
    assert run.wait() == 0
    assert cluster.run("squeue", "-h", "-j", jid).stdout.strip() == ""  # cancelled, gone
    assert "CANCELLED" in cluster.run("scontrol", "show", "job", jid).stdout
    assert processes_using(d) == []


def test_user_template_gets_the_array_and_its_placeholders(cluster, launch, tmp_path):
    d = tmp_path / "d"
    template = tmp_path / "engines.sbatch"
    template.write_text("#!/bin/sh\n"
                        "#SBATCH --job-name=my-engines\n"
                        "#SBATCH --output={logdir}/ipengine-slurm-%A_%a.out\n"
                        "echo \"task ${SLURM_ARRAY_TASK_ID} of {n} reads {furl_file}\"\n"
                        "exec {engine_cmd}\n")
    run = launch("slurm", "-n", "2", "--script", template, "--ipythondir", d)
    run.wait_ready(timeout=120)
    jid = job_id(run.output)
    script = next((d / "log").glob("ipcluster-*-slurm.sh")).read_text()
    assert script.splitlines()[1] == "#SBATCH --array=1-2"
    assert "${SLURM_ARRAY_TASK_ID} of 2" in script
    assert do_work(mec_for(d), 2) == [0, 1]
    outputs = sorted((d / "log").glob(f"ipengine-slurm-{jid}_*.out"))
    assert [o.read_text().splitlines()[0] for o in outputs] == [
        f"task {i} of 2 reads {d}/security/ipcontroller-engine.furl" for i in (1, 2)]
    assert "my-engines" in cluster.run("squeue", "-h", "-j", jid, "-o", "%j").stdout
    run.signal(signal.SIGINT)
    assert run.wait() == 0
    assert cluster.run("squeue", "-h", "-j", jid).stdout.strip() == ""
    assert processes_using(d) == []


def test_a_job_that_dies_is_reported_at_once(cluster, launch, tmp_path):
    d = tmp_path / "d"
    template = tmp_path / "broken.sbatch"
    template.write_text("#!/bin/sh\n"
                        "#SBATCH --output={logdir}/ipengine-slurm-%A_%a.out\n"
                        "echo 'no ipengine on this node' >&2\n"
                        "exit 3\n")
    run = launch("slurm", "-n", "2", "--script", template, "--ipythondir", d, "--timeout", "60")
    assert run.wait(timeout=60) == 1
    out = run.output
    assert "is no longer queued or running" in out
    assert "no ipengine on this node" in out
    assert processes_using(d) == []
