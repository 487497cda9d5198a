"""Remote exceptions: rebuilt with their own type, carrying the engine's traceback.

Each rebuilt exception has ``engine_info`` (``{'engineid', 'method'}``) and
``traceback_text``; the legacy attribute names ``_ipython_engine_info`` and
``_ipython_traceback_text`` are set too. IPython and Jupyter show it (and a
CompositeError) like a local traceback: the engine's frames under the
engine's id (``_render_traceback_``).

Import from this module by its full name (``from kernel.client.remote import
CompositeError``): the attribute ``kernel.client.remote`` is the legacy
``remote()`` function of ``with mec:`` blocks.
"""

from kernel import errors
from kernel.errors import KernelError, KernelRemoteError
from kernel.wire import serialize, tracebacks


class CompositeError(KernelError):
    """One or more engines raised; ``elist`` holds ``(etype, evalue, traceback_text)``."""

    def __init__(self, message, elist):
        flat = []
        for etype, evalue, tb in elist:  # nested CompositeErrors are flattened
            if isinstance(evalue, CompositeError):
                flat.extend(evalue.elist)
            else:
                flat.append((etype, evalue, tb))
        super().__init__(message, flat)
        self.message = message
        self.elist = flat

    @staticmethod
    def _engine_str(ev):
        info = getattr(ev, "engine_info", None)
        if not info or info.get("engineid") is None:
            return "[Engine Exception]"
        return f"[{info['engineid']}:{info['method']}]: "

    def __str__(self):
        lines = [self.message]
        for etype, evalue, _ in self.elist:
            lines.append(f"{self._engine_str(evalue)}{etype.__name__}: {evalue}")
        return "\n".join(lines)

    def _get_engine_str(self, ev):
        return self._engine_str(ev)

    def raise_exception(self, excid=0):
        """Re-raise the ``excid``-th engine's exception with its original type."""
        try:
            etype, evalue, _ = self.elist[excid]
        except IndexError:
            raise IndexError(f"an exception with index {excid} does not exist") from None
        raise evalue.with_traceback(None)

    def _render_traceback_(self):
        """What IPython and Jupyter show for it: the summary, then each engine's traceback."""
        lines = [_red(f"CompositeError: {self.message}")]
        lines += [f"{self._engine_str(evalue)}{etype.__name__}: {evalue}" for etype, evalue, _ in self.elist]
        for _, evalue, tb in self.elist:
            lines += ["", *RenderRemote(getattr(evalue, "engine_info", None), tb)()]
        return lines

    def print_tracebacks(self, excid=None):
        """Print each engine's remote traceback (or only the ``excid``-th)."""
        if excid is None:
            chosen = self.elist
        else:
            try:
                chosen = [self.elist[excid]]
            except IndexError:
                raise IndexError(f"an exception with index {excid} does not exist") from None
        for _, evalue, tb in chosen:
            print(self._engine_str(evalue))
            print(tb or "No traceback available")
            print()


def rebuild(entry, buffers):
    """The exception an engine reported, as an instance of its own type."""
    try:
        exc = serialize.loads(buffers) if buffers else None
    except Exception:
        exc = None
    if not isinstance(exc, BaseException):
        exc = _stand_in(entry)
    info = {"engineid": entry.get("id"), "method": entry.get("method")}
    text = traceback_text(entry)
    for name, value in (("engine_info", info), ("_ipython_engine_info", info),
                        ("traceback_text", text), ("_ipython_traceback_text", text),
                        ("_render_traceback_", RenderRemote(info, text))):
        try:
            setattr(exc, name, value)
        except AttributeError:
            pass
    return exc


def _red(text):
    return f"\x1b[0;31m{text}\x1b[0m"


class RenderRemote:
    """A remote exception's ``_render_traceback_`` (an attribute, so any exception type can
    have one, and picklable): the engine's id and method, then its traceback."""

    def __init__(self, info, text):
        self.info = info or {}
        self.text = text or ""

    def __call__(self):
        engine = self.info.get("engineid")
        where = "the controller" if engine is None else f"engine {engine}"
        method = self.info.get("method")
        header = _red(f"[{where}{':' + method if method else ''}] remote traceback:")
        return [header, *(self.text.rstrip("\n").splitlines() or ["No traceback available"])]


def traceback_text(entry):
    """The remote traceback, printed here: with this machine's source lines where the engine had none."""
    stack = entry.get("stack")
    if stack:
        try:
            return tracebacks.render(stack)
        except (TypeError, KeyError, ValueError):
            pass  # not what an engine sends: fall back to its text
    return entry.get("traceback") or ""


def _stand_in(entry):
    """The controller's own errors (QueueCleared, EngineDied) by type; others as KernelRemoteError."""
    etype = errors.by_name(entry.get("etype"), None)
    if etype is not None:
        return etype(entry.get("message", ""))
    return KernelRemoteError(f"{entry.get('etype')}: {entry.get('message')}")


def collect(entries, groups, method):
    """Values of a fan-out reply, or a CompositeError if any engine failed."""
    values, elist = [], []
    for entry, group in zip(entries, groups):
        if entry.get("status") == "ok":
            values.append(entry["value"] if "value" in entry else serialize.loads(group))
        else:
            exc = rebuild(entry, group)
            elist.append((type(exc), exc, getattr(exc, "traceback_text", None) or traceback_text(entry)))
    if elist:
        raise CompositeError(f"one or more exceptions from call to method: {method}", elist)
    return values


class RemoteTraceback(Exception):
    """The cause of a remote exception raised by a future: the engine's traceback, as
    ``concurrent.futures.ProcessPoolExecutor`` shows a worker's."""

    def __init__(self, text):
        super().__init__(text)
        self.text = text

    def __str__(self):
        return f'\n"""\n{self.text.rstrip()}\n"""'


def with_remote_cause(exc):
    """``exc`` with its remote traceback (if it has one) as its printed cause."""
    text = getattr(exc, "traceback_text", None)
    if text and exc.__cause__ is None:
        exc.__cause__ = RemoteTraceback(text)
    return exc


def unwrap_error(error):
    """The exception one engine raised, out of its CompositeError, with the engine's traceback as cause."""
    if isinstance(error, CompositeError) and len(error.elist) == 1:
        return with_remote_cause(error.elist[0][1])
    return error
