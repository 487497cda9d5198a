"""Grid Engine (SGE, Son of Grid Engine, OGE): a ``qsub -t`` job array, deleted with ``qdel``."""

import re

from kernel.launchers.batch import BatchEngineSetLauncher

TEMPLATE = """\
#!/bin/sh
#$ -N {job_name}
#$ -t 1-{n}
#$ -V
#$ -S /bin/sh
#$ -j y
#$ -o {logdir}/
exec {engine_cmd}
"""


class SGEEngineSetLauncher(BatchEngineSetLauncher):
    kind = "sge"
    system = "Grid Engine"
    submit_cmd = ("qsub", "-terse")
    cancel_cmd = ("qdel",)
    default_template = TEMPLATE
    array_directive = "#$ -t 1-{n}"
    array_pattern = r"^#\$\s+-t\b"
    queue_directive = "#$ -q {queue}"
    queue_pattern = r"^#\$\s+-q\b"
    output_glob = "ipengine.o*"

    def parse_job_id(self, output):
        # -terse prints "123" for a job, "123.1-4:1" for an array
        m = re.search(r"^\s*(\d+)", output, re.M) or re.search(r"job(?:-array)? (\d+)", output)
        return m.group(1) if m else None

    def job_state(self):
        code, out, err = self._run(["qstat", "-j", self.job_id], timeout=30)
        return "queued" if code == 0 else "gone"
