"""Launchers without a cluster: job scripts, job ids, cluster files, ipcluster's flags."""

import os
import shlex
import subprocess
import sys

import pytest

from kernel.apps import ipcluster
from kernel.apps.common import UsageError
from kernel.launchers import LaunchContext, LaunchError, engine_launcher, process
from kernel.launchers.batch import fill
from kernel.launchers.lsf import LSFEngineSetLauncher
from kernel.launchers.pbs import PBSEngineSetLauncher
from kernel.launchers.sge import SGEEngineSetLauncher
from kernel.launchers.slurm import SlurmEngineSetLauncher
from kernel.launchers.ssh import ClusterFile, SSHEngineSetLauncher, _remote_dir
from tests.harness import wait_for
from tests.launchers.helpers import kill_processes_using, processes_using


@pytest.fixture
def context(tmp_path):
    d = tmp_path / "d"
    return LaunchContext(ipythondir=d, logdir=d / "log", engine_furl_file=d / "security" / "e.furl",
                         engine_cmd=["/opt/bin/ipengine"], engine_args=["--controller-timeout", "30"], tag="7")


# -- templates -------------------------------------------------------------------------

def test_fill_replaces_known_placeholders_only():
    text = "n={n} q={queue} f={furl_file} shell=${n} ${SLURM_ARRAY_TASK_ID} {other} {{n}}"
    out = fill(text, dict(n=4, queue="short", furl_file="/x.furl", ipythondir="", logdir="",
                          engine_cmd="", job_name=""))
    assert out == "n=4 q=short f=/x.furl shell=${n} ${SLURM_ARRAY_TASK_ID} {other} {4}"


def test_slurm_default_script(context):
    script = SlurmEngineSetLauncher(context, 4).script()
    lines = script.splitlines()
    assert lines[0] == "#!/bin/sh"
    assert "#SBATCH --array=1-4" in lines
    assert f"#SBATCH --output={context.logdir.resolve()}/ipengine-slurm-%A_%a.out" in lines
    assert not any("--partition" in line for line in lines)
    assert lines[-1] == (f"exec /opt/bin/ipengine --ipythondir {context.ipythondir} --furl-file "
                         f"{context.engine_furl_file} -l {context.logdir}/ipengine- --controller-timeout 30")
    with_queue = SlurmEngineSetLauncher(context, 4, queue="gpu").script().splitlines()
    assert with_queue[1] == "#SBATCH --partition=gpu"


def test_engines_get_the_work_dir(context, tmp_path):
    context.work_dir = str(tmp_path / "my work")
    argv = context.engine_argv()
    assert argv[argv.index("--work-dir") + 1] == str(tmp_path / "my work")
    script = SlurmEngineSetLauncher(context, 2).script()
    assert f"--work-dir '{tmp_path}/my work' --controller-timeout 30" in script


def test_pbs_sge_lsf_default_scripts(context):
    pbs = PBSEngineSetLauncher(context, 3, queue="q1").script().splitlines()
    assert ["#PBS -q q1", "#PBS -N ipengine", "#PBS -J 1-3", "#PBS -V"] == pbs[1:5]
    assert not any(line.startswith("#PBS -J") for line in PBSEngineSetLauncher(context, 1).script().splitlines())
    sge = SGEEngineSetLauncher(context, 3).script().splitlines()
    assert "#$ -t 1-3" in sge and "#$ -V" in sge and "#$ -S /bin/sh" in sge
    lsf = LSFEngineSetLauncher(context, 3, queue="normal").script().splitlines()
    assert lsf[1] == "#BSUB -q normal" and "#BSUB -J ipengine[1-3]" in lsf
    for script in (pbs, sge, lsf):
        assert script[-1].startswith("exec /opt/bin/ipengine ")


def test_user_template_gets_missing_directives(context, tmp_path):
    template = tmp_path / "t.sh"
    template.write_text("#!/bin/bash\n#PBS -l walltime=1:00:00\ncd $PBS_O_WORKDIR\nipengine --furl-file {furl_file}\n")
    lines = PBSEngineSetLauncher(context, 5, queue="long", script=template).script().splitlines()
    assert lines[:3] == ["#!/bin/bash", "#PBS -q long", "#PBS -J 1-5"]
    assert lines[-1] == f"ipengine --furl-file {context.engine_furl_file.resolve()}"
    torque = tmp_path / "torque.sh"
    torque.write_text("#PBS -t 1-{n}\n#PBS -q {queue}\nipengine\n")
    lines = PBSEngineSetLauncher(context, 2, queue="batch", script=torque).script().splitlines()
    assert lines == ["#PBS -t 1-2", "#PBS -q batch", "ipengine"]


def test_missing_template_is_a_launch_error(context, tmp_path):
    with pytest.raises(LaunchError, match="cannot read the job script template"):
        SGEEngineSetLauncher(context, 2, script=tmp_path / "nope.sh").script()


@pytest.mark.parametrize("cls, output, expected", [
    (SlurmEngineSetLauncher, "1234\n", "1234"),
    (SlurmEngineSetLauncher, "1234;cluster2\n", "1234"),
    (PBSEngineSetLauncher, "12[].pbsserver\n", "12[].pbsserver"),
    (SGEEngineSetLauncher, "45.1-4:1\n", "45"),
    (SGEEngineSetLauncher, 'Your job-array 46.1-4:1 ("ipengine") has been submitted\n', "46"),
    (LSFEngineSetLauncher, "Job <789> is submitted to default queue <normal>.\n", "789"),
    (LSFEngineSetLauncher, "garbage\n", None),
])
def test_job_ids_are_parsed(context, cls, output, expected):
    assert cls(context, 2).parse_job_id(output) == expected


def test_submit_command_missing_is_explained(context):
    context.env = {"PATH": "/nonexistent"}
    with pytest.raises(LaunchError, match="sbatch not found on PATH"):
        SlurmEngineSetLauncher(context, 2).start()


# -- ssh -------------------------------------------------------------------------------

def test_cluster_file_defaults_and_checks(tmp_path):
    f = tmp_path / "clusterfile.py"
    f.write_text("engines = {'a': 2, 'b': 1}\n")
    cf = ClusterFile(f)
    assert cf.engines == {"a": 2, "b": 1}
    assert cf.send_furl is True and cf.ssh == ["ssh"] and cf.engine_cmd == ["ipengine"]
    assert cf.remote_ipythondir is None
    for bad, message in [("engines = []", "must set engines"), ("x = 1", "must set engines"),
                         ("engines = {'a': 0}", "positive int"), ("engines = {'-oProxy': 1}", "bad host"),
                         ("engines = {", "error in cluster file")]:
        f.write_text(bad)
        with pytest.raises(LaunchError, match=message):
            ClusterFile(f)
    with pytest.raises(LaunchError, match="no cluster file"):
        ClusterFile(tmp_path / "missing.py")


def test_ssh_launcher_counts_engines_from_the_file(context, tmp_path):
    f = tmp_path / "clusterfile.py"
    f.write_text("engines = {'a': 2, 'b': 3}\nssh = 'ssh -p 2222'\n")
    launcher = SSHEngineSetLauncher(context, None, clusterfile=f)
    assert launcher.n == 5
    assert launcher._ssh_argv("a", "true")[:3] == ["ssh", "-p", "2222"]
    assert "nohup" not in launcher._engine_command()
    assert launcher._engine_command().startswith("ipengine --ipythondir \"$D\"")


@pytest.mark.parametrize("work_dir, word", [("~/runs/a b", "\"$HOME\"/'runs/a b'"), ("/scratch/w", "/scratch/w")])
def test_ssh_engines_get_the_remote_work_dir(context, tmp_path, work_dir, word):
    f = tmp_path / "clusterfile.py"
    f.write_text("engines = {'a': 1}\n")
    context.work_dir = work_dir
    command = SSHEngineSetLauncher(context, None, clusterfile=f)._engine_command()
    assert f"--work-dir {word} --controller-timeout 30" in command
    assert SSHEngineSetLauncher.remote and not SlurmEngineSetLauncher.remote


@pytest.mark.parametrize("value, expected", [
    (None, 'D="${IPYTHONDIR:-$HOME/.ipython}"'),
    ("~", 'D="$HOME"'),
    ("~/my dir", "D=\"$HOME\"/'my dir'"),
    ("/scratch/x", "D=/scratch/x"),
])
def test_remote_dir_shell_words(value, expected):
    assert _remote_dir(value) == expected
    out = subprocess.run(["sh", "-c", f'HOME=/h; unset IPYTHONDIR; {expected}; echo "$D"'],
                         capture_output=True, text=True).stdout.strip()
    assert out == {None: "/h/.ipython", "~": "/h", "~/my dir": "/h/my dir"}.get(value, value)


# -- ipcluster's command line ---------------------------------------------------------------

@pytest.mark.parametrize("argv, command, n", [
    ([], "local", 2), (["-n", "4"], "local", 4), (["local", "-n", "3"], "local", 3),
    (["start", "-n", "5"], "start", 5), (["mpirun", "--num", "2"], "mpirun", 2),
    (["ssh"], "ssh", None), (["--ipythondir", "/x", "-n", "6"], "local", 6),
])
def test_commands_and_the_default(argv, command, n):
    args = ipcluster.parse_args(argv)
    assert (args.command, args.n) == (command, n)


def test_launcher_options_from_flags():
    args = ipcluster.parse_args(["mpiexec", "-n", "2", "--mpi", "mpi4py", "--mpi-args=--oversubscribe"])
    assert ipcluster.launcher_options(args) == ("mpiexec", {"mpi": "mpi4py", "mpi_args": "--oversubscribe",
                                                            "mpi_cmd": None})
    args = ipcluster.parse_args(["slurm", "-n", "8", "-q", "gpu", "-s", "t.sh"])
    assert ipcluster.launcher_options(args) == ("slurm", {"queue": "gpu", "script": "t.sh"})
    args = ipcluster.parse_args(["start"])
    assert ipcluster.launcher_options(args) == ("local", {})
    assert args.work_dir is None
    assert ipcluster.parse_args(["ssh", "--work-dir", "~/w"]).work_dir == "~/w"


def test_restart_and_memory_flags_reach_the_cluster(tmp_path):
    args = ipcluster.parse_args(["-n", "2", "--memory-limit", "2GB", "--restart-limit", "0",
                                 "--restart-window", "30", "--ipythondir", str(tmp_path)])
    cluster = ipcluster.make_cluster(args, print)
    assert cluster.engine_args[:2] == ["--memory-limit", "2000000000"]
    assert (cluster.settings.restart_limit, cluster.settings.restart_window) == (0, 30.0)
    defaults = ipcluster.make_cluster(ipcluster.parse_args(["--ipythondir", str(tmp_path)]), print)
    assert "--memory-limit" not in defaults.engine_args
    assert (defaults.settings.restart_limit, defaults.settings.restart_window) == (5, 60.0)


@pytest.mark.parametrize("argv, message", [
    (["--memory-limit", "lots"], "expected 0 \\(off\\) or a size"), (["--restart-limit", "-1"], "0 or more"),
    (["--restart-window", "0"], "positive"),
    (["-n", "0"], "at least 1"), (["local", "--timeout", "-1"], "positive"),
    (["mpiexec", "--mpi", "pytrilinos"], "invalid choice"), (["local", "--clusterfile", "f"], "unrecognized"),
])
def test_bad_flags_are_usage_errors(argv, message):
    with pytest.raises(UsageError, match=message):
        ipcluster.parse_args(argv)


def test_unknown_launcher():
    with pytest.raises(LaunchError, match="unknown launcher"):
        engine_launcher("condor")


# -- processes ---------------------------------------------------------------------------------

def test_terminate_stops_a_child_and_what_it_started(tmp_path):
    """sh dies of SIGTERM; the two processes it started do not, and are killed after the grace period."""
    marker = f"marker-{tmp_path}"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    keep_open = os.open(fifo, os.O_RDWR)  # the children block reading it and never see EOF
    child = shlex.join([sys.executable, "-c", "import sys; sys.stdin.read()", marker])
    try:
        p = process.spawn(["sh", "-c", f"{child} <{fifo} & {child} <{fifo} & wait"], tmp_path / "out")
        wait_for(lambda: len(process.descendants(p.pid)) == 2, 30, what="two children")
        tree = process.descendants(p.pid)
        process.terminate([p], timeout=0.5)
        assert p.poll() is not None
        assert not any(process.same_alive(t) for t in tree)
        assert processes_using(marker) == []
    finally:
        os.close(keep_open)
        kill_processes_using(marker)


def test_tail(tmp_path):
    f = tmp_path / "log"
    f.write_text("".join(f"line {i}\n" for i in range(100)))
    assert process.tail(f, 3) == "line 97\nline 98\nline 99"
    assert process.tail(tmp_path / "missing") == ""
    assert "no output" in process.tail_report("x", [tmp_path / "missing"])


def test_stale_or_foreign_pid_files_do_not_count_as_a_running_cluster(tmp_path):
    from kernel.cluster import pid_file, running_ipcluster

    path = pid_file(tmp_path)
    path.parent.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    for pid in (dead.pid, 1, "garbage"):
        path.write_text(f"{pid}\n")
        assert running_ipcluster(tmp_path) is None
        if pid != "garbage":
            assert not path.exists()
    assert running_ipcluster(tmp_path / "nowhere") is None
