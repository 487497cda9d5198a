"""Run a .ipy file the way IPython 0.10 did: one top-level statement at a time.

0.10's ``ipython file.ipy`` fed the file to the shell as if it were typed, so a
``%autopx`` sent the statements after it to the engines until the next
``%autopx``, and ``px cmd`` (automagic) worked once ``mec.activate()`` had
loaded the magics. IPython 9 runs a .ipy file as one cell, in which neither
would. This program cuts the file into its top-level statements, as they would
be typed, and runs each as a cell of IPython's real ``InteractiveShell``, in
the current directory, with ``''`` leading ``sys.path`` as ``ipython`` has it.
Expression values are shown as ``Out[n]:``. It stops with status 1 at the first
statement that fails.

    python ipy_runner.py FILE.ipy
"""

import re
import sys
import tempfile

# lines at the left margin that continue the statement before them
CONTINUES = re.compile(r"(else|elif|except|finally)\b")


def statements(shell, source):
    """The top-level statements of ``source``, each without the comments and
    blank lines around it: a new one starts at a line of code at the left
    margin, unless the lines before it are unfinished (a decorator, an open
    bracket or string, a ``try`` without its ``except``)."""
    cell = []
    for line in source.splitlines():
        starts = line[:1] not in ("", " ", "\t", "#") and not CONTINUES.match(line)
        if starts and code(cell) and shell.check_complete("\n".join(cell) + "\n")[0] != "incomplete":
            yield code(cell)
            cell = []
        cell.append(line)
    if code(cell):
        yield code(cell)


def code(lines):
    """``lines`` as one cell, less the comment and blank lines that begin and end it."""
    def is_code(line):
        return line.strip() and not line.lstrip().startswith("#")

    marks = [i for i, line in enumerate(lines) if is_code(line)]
    return "\n".join(lines[marks[0]:marks[-1] + 1]) if marks else ""


def main(argv):
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    [path] = argv
    source = open(path).read()
    sys.path[0] = ""
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    config.InteractiveShell.colors = "nocolor"
    with tempfile.TemporaryDirectory() as ipython_dir:
        shell = InteractiveShell.instance(config=config, ipython_dir=ipython_dir)
        for cell in statements(shell, source):
            # run_cell is looked up each time: %autopx replaces it on the shell
            if not shell.run_cell(cell, store_history=True).success:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
