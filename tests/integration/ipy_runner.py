"""Run a .ipy file the way IPython 0.10 did: one top-level statement at a time.

0.10's ``ipython file.ipy`` fed the file to the shell as if it were typed, so a
``%autopx`` sent the statements after it to the engines until the next
``%autopx``. IPython 9 runs a .ipy file as one cell, in which ``%autopx``
would change nothing. This program cuts the file into its top-level
statements (magics and all) and runs each as a cell of IPython's real
``InteractiveShell``, in the current directory, with ``''`` leading
``sys.path`` as ``ipython`` has it. Expression values are shown as ``Out[n]:``.
It stops with status 1 at the first statement that fails.

    python ipy_runner.py FILE.ipy
"""

import ast
import sys
import tempfile


def statements(shell, source):
    """The top-level statements of ``source``, each as its own lines of the file, as typed
    (without the last newline)."""
    python = shell.transform_cell(source)
    lines = source.splitlines(keepends=True)
    if len(python.splitlines()) != len(lines):
        raise SystemExit("ipy_runner: IPython's transformation changed the number of lines; cannot cut the file")
    for node in ast.parse(python).body:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        yield "".join(lines[first - 1:node.end_lineno]).removesuffix("\n")


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
