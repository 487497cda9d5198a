"""Remote tracebacks as data: taken apart on the engine, printed on the client.

An engine often cannot show the source of the code that failed: the code
came from the client by value (a function defined in a script, a module the
engine cannot import, an IPython cell), and the file it names exists only on
the client's machine, if anywhere. So the engine sends each frame as
``[filename, lineno, name, line]`` (``line`` is ``None`` where the engine has
no source), and the client fills in the missing lines from its own
``linecache``, which also knows IPython's and Jupyter's cells.

A traceback is a list of links, oldest exception first, each
``{"frames": [...], "error": [lines], "link": CAUSE | CONTEXT | None}``:
``link`` says how the link joins the one before it, as Python prints
chained exceptions. Frames of the kernel package itself are left out.
"""

import linecache
import os
import traceback

CAUSE = "cause"
CONTEXT = "context"
_JOINS = {
    CAUSE: "\nThe above exception was the direct cause of the following exception:\n\n",
    CONTEXT: "\nDuring handling of the above exception, another exception occurred:\n\n",
}
_OWN_CODE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def capture(exc):
    """``exc`` and the exceptions chained to it, as the list of links the client prints."""
    links = []
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        frames = [[f.filename, f.lineno, f.name, f.line or None]
                  for f in traceback.extract_tb(exc.__traceback__)
                  if not f.filename.startswith(_OWN_CODE)]
        links.append({"frames": frames, "error": traceback.format_exception_only(type(exc), exc),
                      "link": None})
        if exc.__cause__ is not None:
            links[-1]["link"], exc = CAUSE, exc.__cause__
        elif exc.__context__ is not None and not exc.__suppress_context__:
            links[-1]["link"], exc = CONTEXT, exc.__context__
        else:
            exc = None
    links.reverse()
    return links


def render(links, getline=linecache.getline):
    """The text Python would print for the captured traceback, with the client's source lines."""
    out = []
    for link in links:
        if link.get("link") in _JOINS:
            out.append(_JOINS[link["link"]])
        if link["frames"]:
            out.append("Traceback (most recent call last):\n")
            out.extend(_frame(*frame, getline) for frame in link["frames"])
        out.extend(link["error"])
    return "".join(out)


def _frame(filename, lineno, name, line, getline):
    text = f'  File "{filename}", line {lineno}, in {name}\n'
    if line is None and lineno is not None:
        line = getline(filename, lineno).strip() or None
    return text + (f"    {line}\n" if line else "")
