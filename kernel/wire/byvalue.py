"""Which modules' functions and classes travel as code, and which by name.

cloudpickle sends a function of an importable module by reference (its
module and name), which fails on an engine that cannot import that module:
a script's own ``helper.py``, a package beside a notebook. As 0.10 did, such
code travels whole. The rule, per top-level package:

- by value: a module whose file lies outside the standard library, every
  ``site-packages``/``dist-packages`` directory and the kernel package: the
  user's own code, which the engines may not have;
- by reference: everything else (installed libraries, the standard library,
  built-in modules), which the engines import themselves.

``send_by_value`` and ``send_by_reference`` override the rule for one
package, say for a library installed outside site-packages that every engine
has, or for a module of one's own whose globals cannot be pickled.
"""

import os
import site
import sys
import sysconfig

import cloudpickle

_LIBRARY_PARTS = {"site-packages", "dist-packages"}
_chosen = {}  # top-level name -> True (by value) or False, as the user said
_decided = {}  # top-level name -> True or False, by the rule or by _chosen
_registered = set()  # top-level names this module registered with cloudpickle


def _library_dirs():
    dirs = {sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    dirs.update(site.getsitepackages())
    dirs.add(site.getusersitepackages())
    dirs.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # kernel itself
    return tuple(os.path.join(os.path.realpath(d), "") for d in dirs if d)


_LIBRARIES = _library_dirs()


def users_own(module):
    """Whether ``module`` is the user's own code by the rule above."""
    path = getattr(module, "__file__", None)
    if not path:
        return False  # built in, frozen, or a namespace package
    path = os.path.realpath(path)
    if _LIBRARY_PARTS.intersection(path.split(os.sep)):
        return False
    return not path.startswith(_LIBRARIES)


def route(obj):
    """Register ``obj``'s package with cloudpickle for sending by value, where the rule says so.

    Called for each function and class pickled; the decision is made once
    per top-level package.
    """
    name = getattr(obj, "__module__", None)
    if not isinstance(name, str) or name == "__main__":
        return
    top = name.partition(".")[0]
    if top in _decided:
        return
    module = sys.modules.get(top)
    if module is None:
        return  # not importable here either: cloudpickle sends it by value anyway
    _decide(top, module, _chosen.get(top, users_own(module)))


def _decide(top, module, by_value):
    _decided[top] = by_value
    if by_value and top not in _registered:
        cloudpickle.register_pickle_by_value(module)
        _registered.add(top)
    elif not by_value and top in _registered:
        cloudpickle.unregister_pickle_by_value(module)
        _registered.discard(top)


def send_by_value(module):
    """Always send the functions and classes of ``module``'s package as code."""
    _choose(module, True)


def send_by_reference(module):
    """Always send ``module``'s package by name: every engine must be able to import it."""
    _choose(module, False)


def _choose(module, by_value):
    top = (module if isinstance(module, str) else module.__name__).partition(".")[0]
    _chosen[top] = by_value
    if top in sys.modules:
        _decide(top, sys.modules[top], by_value)
    else:
        _decided.pop(top, None)
