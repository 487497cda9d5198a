"""0.10's taskreject.py example, run as a program against a controller and four real engines:
tasks that raise TaskRejectError everywhere go round the engines again, each round costing a
retry, until two engines accept them; the script's barrier returns instead of waiting for ever."""

import ast

from IPython.kernel import client
from tests.harness.scripts import run_script


def test_the_taskreject_example_finishes(cluster4, tmp_path):
    lines = run_script("taskreject.py", cluster4, tmp_path)
    assert len(lines) == 2 and lines[0].startswith("Task ids: ") and lines[1].startswith("Results: ")
    task_ids = ast.literal_eval(lines[0].removeprefix("Task ids: "))
    assert len(task_ids) == 10
    assert lines[1] == "Results: " + repr([3.0e8] * 10)
    with client.get_task_client(cluster4.tc_furl) as tc:
        assert {tc.task_status(t)["engineid"] for t in task_ids} <= {0, 1}  # run=True only there
    log = "".join(path.read_text() for path in (cluster4.dir / "log").glob("ipcontroller-*.log"))
    for eid in (2, 3):  # engines 2 and 3 refused the tasks sent to them
        assert f"refused by engine {eid}: UnmetDependency: task dependency not met" in log
