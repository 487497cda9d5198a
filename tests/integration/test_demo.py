"""The walkthrough behind `make demo` runs from start to end and stops its cluster."""

import subprocess
import sys


def test_the_demo_runs_and_stops_its_cluster():
    result = subprocess.run([sys.executable, "-m", "kernel.demo", "-n", "2"], capture_output=True,
                            text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    assert "mec.get_ids() -> [0, 1]" in out
    assert "equal: True" in out
    assert "TaskResult[ID:0]:{'b': 42}" in out
    assert "{'answer': 'recovered'}" in out
    assert out.rstrip().endswith("done: every process stopped")
