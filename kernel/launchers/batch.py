"""Engines as a batch system's job array: write the script, submit it, cancel it.

Each batch system (``slurm``, ``pbs``, ``sge``, ``lsf``) is a subclass that
knows its directives and its commands. The script is a built-in default or
the user's template; these placeholders are filled in (``${name}`` is left
alone for the shell, and so are unknown names):

    {n}           number of engines (array size)
    {queue}       the queue / partition (empty if none was given)
    {furl_file}   absolute path of the engine FURL file
    {ipythondir}  the cluster directory
    {logdir}      the log directory
    {engine_cmd}  the full ipengine command line (program, FURL file, log prefix)
    {job_name}    the job name (ipengine)

A template without an array directive gets one for ``{n}`` engines after its
first line, and one without a queue directive gets one when ``--queue`` is
given. The engines must see the FURL file: with the controller on a login
node, keep the cluster directory on a shared file system.
"""

import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from kernel.launchers import process
from kernel.launchers.base import EngineSetLauncher, LaunchError

PLACEHOLDERS = ("n", "queue", "furl_file", "ipythondir", "logdir", "engine_cmd", "job_name")
_PLACEHOLDER = re.compile(r"(?<!\$)\{(" + "|".join(PLACEHOLDERS) + r")\}")


def fill(template, values):
    """Replace {name} for the known names only; shell ``${name}`` stays as it is."""
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)


class BatchEngineSetLauncher(EngineSetLauncher):
    """A job array of ``n`` engines. Subclasses set the class attributes."""

    kind = "batch"
    system = "a batch system"
    submit_cmd = ()          # the script's path is appended (or sent on stdin)
    submit_stdin = False
    cancel_cmd = ()          # the job id is appended
    default_template = ""
    array_directive = ""     # e.g. "#SBATCH --array=1-{n}"
    array_pattern = ""       # regex finding an existing array directive
    queue_directive = ""
    queue_pattern = ""
    job_name = "ipengine"
    output_glob = "ipengine-*.out"  # the job's stdout files in LOGDIR

    def __init__(self, context, n, queue=None, script=None, submit_timeout=60.0, stop_timeout=30.0):
        super().__init__(context, n)
        self.queue = queue or ""
        self.template_file = Path(script) if script else None
        self.submit_timeout = submit_timeout
        self.stop_timeout = stop_timeout
        self.job_id = None
        self.script_file = Path(context.logdir) / f"ipcluster-{context.tag}-{self.kind}.sh"
        self.submit_output = ""

    # -- the script ----------------------------------------------------------------

    def values(self):
        return {
            "n": self.n,
            "queue": self.queue,
            "furl_file": Path(self.context.engine_furl_file).resolve(),
            "ipythondir": Path(self.context.ipythondir).resolve(),
            "logdir": Path(self.context.logdir).resolve(),
            "engine_cmd": " ".join(shlex.quote(a) for a in self.context.engine_argv()),
            "job_name": self.job_name,
        }

    def template(self):
        if self.template_file is None:
            text = self.default_template
            if self.queue:
                text = self._insert(text, self.queue_directive)
            return text
        try:
            text = self.template_file.read_text()
        except OSError as e:
            raise LaunchError(f"cannot read the job script template {self.template_file}: {e}") from None
        if not re.search(self.array_pattern, text, re.M):
            text = self._insert(text, self.array_directive)
        if self.queue and not re.search(self.queue_pattern, text, re.M) and "{queue}" not in text:
            text = self._insert(text, self.queue_directive)
        return text

    @staticmethod
    def _insert(text, line):
        """Put a directive after the #! line (directives must precede commands)."""
        lines = text.splitlines(keepends=True)
        at = 1 if lines and lines[0].startswith("#!") else 0
        lines.insert(at, line + "\n")
        return "".join(lines)

    def script(self):
        return fill(self.template(), self.values())

    def write_script(self):
        self.script_file.parent.mkdir(parents=True, exist_ok=True)
        self.script_file.write_text(self.script())
        self.script_file.chmod(0o755)
        return self.script_file

    # -- the batch system's commands -----------------------------------------------

    def _run(self, argv, stdin=None, timeout=None):
        if shutil.which(argv[0], path=self.context.env.get("PATH")) is None:
            raise LaunchError(f"{argv[0]} not found on PATH: is this a {self.system} submit host?")
        try:
            done = subprocess.run([str(a) for a in argv], input=stdin, capture_output=True,
                                  env=self.context.env, timeout=timeout or self.submit_timeout)
        except subprocess.TimeoutExpired:
            raise LaunchError(f"{argv[0]} did not answer within {timeout or self.submit_timeout:g} s") from None
        except OSError as e:
            raise LaunchError(f"cannot run {argv[0]}: {e}") from None
        return done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")

    def parse_job_id(self, output):
        """The job id in the submit command's output (default: the first line)."""
        line = output.strip().splitlines()[0] if output.strip() else ""
        return line.strip() or None

    def job_state(self):
        """'queued' (pending or running), 'gone', or None if it cannot be told."""
        return None

    def start(self):
        path = self.write_script()
        if self.submit_stdin:
            argv, stdin = list(self.submit_cmd), path.read_bytes()
        else:
            argv, stdin = [*self.submit_cmd, str(path)], None
        code, out, err = self._run(argv, stdin)
        self.submit_output = (out + err).strip()
        if code != 0:
            raise LaunchError(f"{argv[0]} failed (exit {code}): {self.submit_output[-1000:]}")
        self.job_id = self.parse_job_id(out)
        if not self.job_id:
            raise LaunchError(f"could not find a job id in the output of {argv[0]}: {self.submit_output[-500:]!r}")

    def failure(self):
        if self.job_id is not None and self.job_state() == "gone":
            return f"{self.system} job {self.job_id} is no longer queued or running"
        return None

    def report(self):
        files = sorted(Path(self.context.logdir).glob(self.output_glob),
                       key=lambda p: p.stat().st_mtime, reverse=True)[:2]
        return process.tail_report(f"{self.system} job {self.job_id} output",
                                   [*files, *self.context.recent_engine_logs()])

    def stop(self, timeout=None):
        if self.job_id is None:
            return
        timeout = self.stop_timeout if timeout is None else max(timeout, self.stop_timeout)
        code, out, err = self._run([*self.cancel_cmd, self.job_id])
        if code != 0 and self.job_state() not in ("gone", None):
            raise LaunchError(f"{self.cancel_cmd[0]} {self.job_id} failed (exit {code}): {(out + err).strip()}")
        deadline = time.monotonic() + timeout
        while self.job_state() == "queued":
            if time.monotonic() > deadline:
                raise LaunchError(f"{self.system} job {self.job_id} still listed {timeout:g} s after "
                                  f"{self.cancel_cmd[0]}")
            time.sleep(0.2)
        self.job_id = None

    def describe(self):
        return f"{self.n} engines in {self.system} job {self.job_id} (script {self.script_file})"
