"""PBS (OpenPBS, PBS Pro): engines as a ``qsub`` job array, deleted with ``qdel``.

The default script uses PBS Pro's ``#PBS -J``; for Torque, give a template
with ``#PBS -t 1-{n}`` (``--script``).
"""

from kernel.launchers.batch import BatchEngineSetLauncher


class PBSEngineSetLauncher(BatchEngineSetLauncher):
    kind = "pbs"
    system = "PBS"
    submit_cmd = ("qsub",)
    cancel_cmd = ("qdel",)
    array_directive = "#PBS -J 1-{n}"
    array_pattern = r"^#PBS\s+-[Jt]\b"
    queue_directive = "#PBS -q {queue}"
    queue_pattern = r"^#PBS\s+-q\b"
    output_glob = "ipengine.o*"

    @property
    def default_template(self):
        # a PBS Pro job array needs at least two subjobs
        array = f"{self.array_directive}\n" if self.n > 1 else ""
        return ("#!/bin/sh\n"
                "#PBS -N {job_name}\n"
                f"{array}"
                "#PBS -V\n"
                "#PBS -j oe\n"
                "#PBS -o {logdir}/\n"
                "exec {engine_cmd}\n")

    def job_state(self):
        code, out, err = self._run(["qstat", self.job_id], timeout=30)
        return "queued" if code == 0 else "gone"
