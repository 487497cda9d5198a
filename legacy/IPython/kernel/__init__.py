"""``IPython.kernel`` is ``kernel``: legacy scripts import the old names unchanged.

The main distribution installs this package as ``IPython/kernel`` and never
``IPython/__init__.py``: beside a real IPython it adds one subpackage and
changes nothing else; without IPython, ``IPython`` is a namespace holding only
``kernel``. Each 0.10 module below is the very module of ``kernel`` that
replaces it, so ``client.MapTask``, ``client.CompositeError`` and the rest are
the same objects; ``IPython.kernel.error`` (error.py) lists every 0.10
exception name.
"""

import sys

import kernel
import kernel.client
import kernel.client.asyncclient
import kernel.client.multiengine
import kernel.client.newserialized
import kernel.client.parallel
import kernel.client.task
import kernel.client.taskclient
import kernel.magic
from IPython.kernel import error
from kernel.errors import TaskRejectError  # noqa: F401  (re-exported, as in 0.10)

_ALIASES = {
    "client": kernel.client,
    "asyncclient": kernel.client.asyncclient,
    "task": kernel.client.task,
    "taskclient": kernel.client.taskclient,
    "multiengineclient": kernel.client.multiengine,
    "newserialized": kernel.client.newserialized,
    "parallelfunction": kernel.client.parallel,
    "magic": kernel.magic,
}

for _name, _module in _ALIASES.items():
    sys.modules[f"{__name__}.{_name}"] = _module
    globals()[_name] = _module

__all__ = ["client", "asyncclient", "error", "task", "taskclient", "multiengineclient", "newserialized",
           "parallelfunction", "magic", "TaskRejectError"]
__version__ = kernel.__version__
