"""``IPython.kernel`` is ``kernel``: legacy scripts import the old names unchanged.

``from IPython.kernel import client``, ``IPython.kernel.client.MapTask``,
``IPython.kernel.error.CompositeError`` and ``from IPython.kernel import
TaskRejectError`` all give the very same objects as the ``kernel`` package.
"""

import sys
import types

import kernel
import kernel.client
import kernel.errors
from kernel.client.remote import CompositeError

from kernel.errors import TaskRejectError  # noqa: F401  (re-exported, as in 0.10)

# the legacy error module also held CompositeError
error = types.ModuleType(f"{__name__}.error", kernel.errors.__doc__)
error.__dict__.update({k: v for k, v in vars(kernel.errors).items() if not k.startswith("__")})
error.CompositeError = CompositeError

_ALIASES = {
    "client": kernel.client,
    "error": error,
    "task": kernel.client.task,
    "taskclient": kernel.client.taskclient,
    "multiengineclient": kernel.client.multiengine,
}

for _name, _module in _ALIASES.items():
    sys.modules[f"{__name__}.{_name}"] = _module
    globals()[_name] = _module

__version__ = kernel.__version__
