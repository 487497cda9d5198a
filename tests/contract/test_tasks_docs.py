"""The examples of docs/tasks.md, run as doctests against a fresh cluster of four engine processes."""

import doctest
import re
from pathlib import Path

from tests.contract.test_tasks_harness import ProcessBackend

DOC = Path(__file__).resolve().parents[2] / "docs" / "tasks.md"


def test_the_examples_of_the_task_chapter_run(tmp_path, monkeypatch):
    text = re.sub(r"^```(python)?$", "", DOC.read_text(), flags=re.MULTILINE)  # fences end examples
    test = doctest.DocTestParser().get_doctest(text, {}, DOC.name, str(DOC), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    backend = ProcessBackend(tmp_path / "cluster", engines=4)
    try:
        monkeypatch.setenv("IPYTHONDIR", str(backend.dir))  # where TaskClient() finds its FURL file
        result = runner.run(test)
        assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {DOC.name} failed"
    finally:
        for name in ("tc", "mec"):
            if name in test.globs:
                test.globs[name].close()
        backend.stop()
