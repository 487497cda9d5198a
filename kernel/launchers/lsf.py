"""LSF: a ``bsub`` job array (script on stdin, so #BSUB lines count), killed with ``bkill``."""

import re

from kernel.launchers.batch import BatchEngineSetLauncher

TEMPLATE = """\
#!/bin/sh
#BSUB -J {job_name}[1-{n}]
#BSUB -o {logdir}/ipengine-lsf-%J_%I.out
exec {engine_cmd}
"""

FINISHED = {"DONE", "EXIT"}


class LSFEngineSetLauncher(BatchEngineSetLauncher):
    kind = "lsf"
    system = "LSF"
    submit_cmd = ("bsub",)
    submit_stdin = True
    cancel_cmd = ("bkill",)
    default_template = TEMPLATE
    array_directive = "#BSUB -J {job_name}[1-{n}]"
    array_pattern = r"^#BSUB\s+-J\s+\S*\["
    queue_directive = "#BSUB -q {queue}"
    queue_pattern = r"^#BSUB\s+-q\b"
    output_glob = "ipengine-lsf-*"

    def parse_job_id(self, output):
        # "Job <123> is submitted to default queue <normal>."
        m = re.search(r"Job <(\d+)>", output)
        return m.group(1) if m else None

    def job_state(self):
        code, out, err = self._run(["bjobs", "-noheader", "-o", "stat", self.job_id], timeout=30)
        states = {w.strip() for w in out.split()}
        if code != 0 or not states or states <= FINISHED:
            return "gone"
        return "queued"
