"""The walkthroughs in docs/ run as doctests, each against a fresh cluster of four engine processes."""

import doctest
from pathlib import Path

import pytest

from tests.harness import ProcessBackend

DOCS = Path(__file__).resolve().parents[2] / "docs"


def doctest_text(markdown):
    """A chapter as doctest source: fences end examples, and a blank line inside a
    printed result (one followed by more output, not by a prompt or the fence's end)
    is part of that result."""
    lines = markdown.splitlines()
    out, fence = [], None
    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if line.startswith("```"):
            fence = None if fence is not None else line[3:]
            out.append("" if fence in (None, "", "python") else line)
        elif fence == "python" and line == "" and out and out[-1] and not out[-1].startswith(">>>") \
                and following and not following.startswith((">>>", "```")):
            out.append("<BLANKLINE>")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("chapter", ["multiengine.md", "tasks.md"])
def test_the_examples_of_the_chapter_run(chapter, tmp_path, monkeypatch):
    doc = DOCS / chapter
    test = doctest.DocTestParser().get_doctest(doctest_text(doc.read_text()), {}, doc.name, str(doc), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    backend = ProcessBackend.start(tmp_path / "cluster", engines=4)
    try:
        monkeypatch.setenv("IPYTHONDIR", str(backend.dir))  # where the clients find their FURL files
        result = runner.run(test)
        assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {doc.name} failed"
    finally:
        for name in ("mec", "tc"):
            if name in test.globs:
                test.globs[name].close()
        backend.stop()
