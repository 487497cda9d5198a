"""The legacy example scripts in tests/legacy_scripts, run as programs the way a user runs them."""

import os
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "legacy_scripts"


def run_script(name, cluster, cwd):
    """Run script ``name`` in its own process, in an unrelated directory ``cwd``, finding the
    controller's FURL files through IPYTHONDIR; return its output lines (it must exit with 0)."""
    env = dict(os.environ, IPYTHONDIR=str(cluster.dir))
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, str(SCRIPTS / name)], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{name} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout.splitlines()
