"""``with mec:`` blocks whose first statement is ``remote()``: their body runs on the engines.

The body never runs here: ``__enter__`` finds the block in the caller's
source (``linecache``, so it works in scripts and at the IPython prompt
alike), sends the statements after ``remote()`` to the engines, and then
``remote()`` raises StopLocalExecution, which ``__exit__`` swallows.
"""

import ast
import linecache
import textwrap

from kernel.errors import StopLocalExecution


def remote():
    """First statement of a ``with mec:`` block: the rest runs on the engines, not here."""
    raise StopLocalExecution("this block runs on the engines")


def _is_remote_call(statement):
    if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)):
        return False
    func = statement.value.func
    return (isinstance(func, ast.Name) and func.id == "remote") or (
        isinstance(func, ast.Attribute) and func.attr == "remote")


def remote_block(frame):
    """The source after ``remote()`` in the ``with`` block at ``frame``'s line, or None."""
    lines = linecache.getlines(frame.f_code.co_filename, frame.f_globals)
    if not lines:
        return None
    try:
        tree = ast.parse("".join(lines))
    except SyntaxError:
        return None
    line = frame.f_lineno
    found = None
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and node.lineno <= line < node.body[0].lineno:
            if found is None or node.lineno >= found.lineno:
                found = node
    if found is None or not _is_remote_call(found.body[0]):
        return None
    body = found.body[1:]
    if not body:
        return ""
    text = "".join(lines[body[0].lineno - 1:body[-1].end_lineno])
    return textwrap.dedent(text)
