"""Slurm: engines as an ``sbatch`` job array, cancelled with ``scancel``."""

from kernel.launchers.batch import BatchEngineSetLauncher

TEMPLATE = """\
#!/bin/sh
#SBATCH --job-name={job_name}
#SBATCH --array=1-{n}
#SBATCH --output={logdir}/ipengine-slurm-%A_%a.out
exec {engine_cmd}
"""


class SlurmEngineSetLauncher(BatchEngineSetLauncher):
    kind = "slurm"
    system = "Slurm"
    submit_cmd = ("sbatch", "--parsable")
    cancel_cmd = ("scancel",)
    default_template = TEMPLATE
    array_directive = "#SBATCH --array=1-{n}"
    array_pattern = r"^#SBATCH\s+(--array\b|-a\b)"
    queue_directive = "#SBATCH --partition={queue}"
    queue_pattern = r"^#SBATCH\s+(--partition\b|-p\b)"
    output_glob = "ipengine-slurm-*"

    def parse_job_id(self, output):
        # --parsable prints "jobid" or "jobid;cluster"
        line = super().parse_job_id(output)
        return line.split(";")[0].strip() if line else None

    def job_state(self):
        code, out, err = self._run(["squeue", "-h", "-j", self.job_id, "-o", "%T"], timeout=30)
        if code != 0:
            return "gone" if "invalid job id" in err.lower() else None
        return "queued" if out.strip() else "gone"
