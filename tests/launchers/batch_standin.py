"""Stand-ins for the PBS, Grid Engine and LSF commands: they run the job script here.

    batch_standin.py TOOL [args...]     TOOL: qsub qdel qstat bsub bkill bjobs

``install(bindir, statedir, flavor)`` writes one small wrapper per tool into
``bindir``; put it first on PATH. ``flavor`` (pbs or sge) decides what
``qsub``/``qstat`` print, since both systems use those names.

A submitted script is read for its array directive (``#PBS -J 1-N`` or
``-t``, ``#$ -t 1-N``, ``#BSUB -J name[1-N]``); one ``/bin/sh script``
per array task is started in its own session with the task index in the
system's variable, and its pid and start time are kept in ``statedir``.
The delete commands stop exactly those processes. Every call is logged to
``statedir/calls.log`` and every submitted script kept as ``job-ID.sh``.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

TOOLS = ("qsub", "qdel", "qstat", "bsub", "bkill", "bjobs")
INDEX_VARS = {"pbs": ("PBS_ARRAY_INDEX", "PBS_JOBID"), "sge": ("SGE_TASK_ID", "JOB_ID"),
              "lsf": ("LSB_JOBINDEX", "LSB_JOBID")}
ARRAY = {"pbs": r"^#PBS\s+-[Jt]\s+(\d+)-(\d+)", "sge": r"^#\$\s+-t\s+(\d+)-(\d+)",
         "lsf": r"^#BSUB\s+-J\s+\S*\[(\d+)-(\d+)\]"}


def install(bindir, statedir, flavor):
    bindir, statedir = Path(bindir), Path(statedir)
    bindir.mkdir(parents=True, exist_ok=True)
    statedir.mkdir(parents=True, exist_ok=True)
    for tool in TOOLS:
        wrapper = bindir / tool
        wrapper.write_text(f"#!/bin/sh\nSTANDIN_STATE={statedir} STANDIN_FLAVOR={flavor} "
                           f"exec {sys.executable} {Path(__file__).resolve()} {tool} \"$@\"\n")
        wrapper.chmod(0o755)
    return bindir


def _start_time(pid):
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return None if fields[0] == "Z" else int(fields[19])


class State:
    def __init__(self):
        self.dir = Path(os.environ["STANDIN_STATE"])
        self.flavor = os.environ["STANDIN_FLAVOR"]

    def log(self, argv):
        with open(self.dir / "calls.log", "a") as f:
            f.write(" ".join(argv) + "\n")

    def new_id(self):
        counter = self.dir / "counter"
        n = int(counter.read_text()) + 1 if counter.exists() else 100
        counter.write_text(str(n))
        return n

    def job_file(self, jid):
        return self.dir / f"job-{jid}.json"

    def alive(self, jid):
        try:
            tasks = json.loads(self.job_file(jid).read_text())
        except (OSError, ValueError):
            return None
        return [(pid, st) for pid, st in tasks if _start_time(pid) == st]


def submit(state, flavor, script_text):
    jid = state.new_id()
    kind = "lsf" if flavor == "lsf" else state.flavor
    script = state.dir / f"job-{jid}.sh"
    script.write_text(script_text)
    m = re.search(ARRAY[kind], script_text, re.M)
    first, last = (int(m.group(1)), int(m.group(2))) if m else (1, 1)
    index_var, job_var = INDEX_VARS[kind]
    tasks = []
    for i in range(first, last + 1):
        env = dict(os.environ, **{index_var: str(i), job_var: str(jid)})
        with open(state.dir / f"job-{jid}.{i}.out", "ab") as out:
            p = subprocess.Popen(["/bin/sh", str(script)], stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, env=env, start_new_session=True)
        tasks.append((p.pid, _start_time(p.pid)))
    state.job_file(jid).write_text(json.dumps(tasks))
    return jid, first, last


def cancel(state, jid):
    tasks = state.alive(jid)
    if tasks is None:
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid, _ in tasks:
            try:
                os.killpg(pid, sig)  # each task is a session (and group) of its own
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while state.alive(jid) and time.monotonic() < deadline:
            time.sleep(0.05)
        tasks = state.alive(jid)
        if not tasks:
            break
    return True


def main(argv):
    tool, args = argv[0], argv[1:]
    state = State()
    state.log(argv)
    if tool == "qsub":
        path = next((a for a in args if not a.startswith("-")), None)
        jid, first, last = submit(state, "qsub", Path(path).read_text() if path else sys.stdin.read())
        if state.flavor == "sge":
            terse = "-terse" in args
            print(f"{jid}.{first}-{last}:1" if terse else f'Your job-array {jid}.{first}-{last}:1 ("ipengine") '
                  "has been submitted")
        else:
            print(f"{jid}[].standin" if last > first else f"{jid}.standin")
        return 0
    if tool == "bsub":
        jid, _, _ = submit(state, "lsf", sys.stdin.read())
        print(f"Job <{jid}> is submitted to default queue <normal>.")
        return 0
    jid = re.match(r"\d+", args[-1]).group(0) if args and re.match(r"\d+", args[-1]) else None
    if tool in ("qdel", "bkill"):
        if jid is None or not cancel(state, jid):
            print(f"{tool}: unknown job {args[-1] if args else ''}", file=sys.stderr)
            return 1
        return 0
    if tool == "qstat":
        if jid is not None and state.alive(jid):
            print(f"{jid} ipengine r")
            return 0
        print(f"qstat: unknown job {args[-1] if args else ''}", file=sys.stderr)
        return 1
    if tool == "bjobs":
        tasks = state.alive(jid) if jid else None
        if tasks is None:
            print(f"Job <{args[-1] if args else ''}> is not found", file=sys.stderr)
            return 255
        print("\n".join(["RUN"] * len(tasks)) if tasks else "DONE")
        return 0
    print(f"unknown tool {tool}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
