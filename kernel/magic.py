"""IPython magics for the multiengine interface: ``%px``, ``%autopx`` and ``%result``.

Load with ``%load_ext kernel.magic``, or call ``mec.activate()`` inside
IPython, which also loads it. The magics use the activated client and honour
its ``targets`` and ``block`` attributes:

- ``%px <code>`` runs one line of code on the engines (``%%px`` a whole cell)
  and returns the ResultList (a PendingResult if ``mec.block`` is False);
  ``%px --stream <code>`` (``%%px --stream``) prints what the engines print
  as they print it, each line after ``[stdout:N]``, and waits until they are
  done (Ctrl-C interrupts the code on the engines);
- ``%autopx`` toggles a mode in which every cell typed runs on the engines;
- ``%result [n]`` shows the result of command ``n`` (default: the latest).

IPython itself is only needed for the magics: ``pip install kernel[magic]``.
"""

import re
import sys

NO_CONTROLLER = ("\nError:  No Controller is activated\n"
                 "Use activate() on a RemoteController object to activate it for magics.\n")
NO_AUTOPX_CONTROLLER = "No active RemoteController found, use RemoteController.activate()."
NOT_IN_IPYTHON = "The IPython Controller magics only work within IPython."
AUTOPX_ON = "Auto Parallel Enabled\nType %autopx to disable"
AUTOPX_OFF = "Auto Parallel Disabled"

# %autopx typed while autopx is on, as IPython transforms it
_AUTOPX_CALL = re.compile(r"""get_ipython\(\)\.(run_line_magic\(|magic\()\s*u?['"]%?autopx\b""")

STREAM_FLAG = "--stream"

_active = None


def activate(client):
    """Make ``client`` the one the magics use; inside IPython, load the magics too."""
    global _active
    _active = client
    shell = _running_shell()
    if shell is None:
        print(NOT_IN_IPYTHON)
        return
    if "kernel.magic" not in shell.extension_manager.loaded:
        shell.extension_manager.load_extension("kernel.magic")


def active():
    """The activated client, or None."""
    return _active


def _running_shell():
    if "IPython" not in sys.modules:
        return None
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def load_ipython_extension(ip):
    """Register the magics with the shell ``ip`` (``%load_ext kernel.magic``)."""
    ip.register_magics(_magics_class()(ip))


def unload_ipython_extension(ip):
    magics = ip.magics_manager.registry.get("ParallelMagics")
    if magics is not None:
        magics.disable_autopx(quiet=True)


def _stream_flag(line, cell):
    """``(stream, code)`` of ``%px [--stream] code`` or ``%%px [--stream]`` and its cell."""
    words = line.split(None, 1)
    stream = bool(words) and words[0] == STREAM_FLAG
    if cell is not None:
        return stream, cell
    return stream, (words[1] if len(words) > 1 else "") if stream else line


def _execution_info(raw_cell, store_history, silent, shell_futures, cell_id):
    from IPython.core.interactiveshell import ExecutionInfo

    try:
        return ExecutionInfo(raw_cell, store_history, silent, shell_futures, cell_id)
    except TypeError:  # older IPython: no cell_id
        return ExecutionInfo(raw_cell, store_history, silent, shell_futures)


def _magics_class():
    from IPython.core.interactiveshell import ExecutionResult
    from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class

    @magics_class
    class ParallelMagics(Magics):
        """%px, %autopx and %result over the client given to ``activate``."""

        autopx = False

        @line_cell_magic
        def px(self, line, cell=None):
            """Execute code on the engines of the active client (its ``targets`` and ``block``)."""
            client = active()
            if client is None:
                print(NO_CONTROLLER)
                return None
            stream, code = _stream_flag(line, cell)
            print(f"Parallel execution on engines: {client.targets}")
            if stream:  # printed as it comes; the ResultList would only repeat it
                client.execute(code, block=False).stream_output()
                return None
            return client.execute(code)

        @line_magic
        def result(self, line=""):
            """Show the result of command number ``n`` on the engines (default: the latest)."""
            client = active()
            if client is None:
                print(NO_CONTROLLER)
                return None
            line = line.strip()
            try:
                number = int(line) if line else None
            except ValueError:
                print(f"%result takes a command number, not {line!r}")
                return None
            return client.get_result(number or None)

        @line_magic("autopx")
        def autopx_magic(self, line=""):
            """Toggle a mode in which every cell runs on the engines of the active client."""
            if self.autopx:
                self.disable_autopx()
            else:
                self.enable_autopx()

        def enable_autopx(self):
            if active() is None:
                print(NO_AUTOPX_CONTROLLER)
                return
            shell = self.shell
            shell.run_cell = self.pxrun_cell
            shell.should_run_async = lambda *args, **kwargs: False  # hosts that run cells async
            self.autopx = True
            print(AUTOPX_ON)

        def disable_autopx(self, quiet=False):
            if not self.autopx:
                return
            for name in ("run_cell", "should_run_async"):
                self.shell.__dict__.pop(name, None)
            self.autopx = False
            if not quiet:
                print(AUTOPX_OFF)

        def pxrun_cell(self, raw_cell, store_history=False, silent=False, shell_futures=True,
                       cell_id=None, **kwargs):
            """Stands in for the shell's run_cell: the cell runs on the engines."""
            shell = self.shell
            result = ExecutionResult(_execution_info(raw_cell, store_history, silent, shell_futures, cell_id))
            if not raw_cell or raw_cell.isspace():
                return result
            cell = shell.transform_cell(raw_cell)
            if _AUTOPX_CALL.search(cell):
                self.disable_autopx()
                return result
            if store_history:
                shell.history_manager.store_inputs(shell.execution_count, cell, raw_cell)
            try:
                try:
                    compile(raw_cell, "<autopx>", "exec")
                except (SyntaxError, OverflowError, ValueError) as e:
                    shell.showsyntaxerror()
                    result.error_before_exec = e
                    return result
                client = active()
                if client is None:
                    print(NO_AUTOPX_CONTROLLER)
                    self.disable_autopx()
                    return result
                try:
                    value = client.execute(raw_cell)
                except Exception as e:
                    shell.showtraceback()
                    result.error_in_exec = e
                    return result
                result.result = value
                print(repr(value))
                return result
            finally:
                if store_history:
                    shell.execution_count += 1

    return ParallelMagics
