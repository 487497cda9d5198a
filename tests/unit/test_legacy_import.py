"""``IPython.kernel`` is an alias of ``kernel``, with or without a real IPython."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import kernel
import kernel.client
from kernel.errors import BadFURLError

REPO = Path(kernel.__file__).resolve().parent.parent
SHIM = REPO / "legacy" / "IPython" / "kernel" / "__init__.py"


def test_legacy_names_are_the_same_objects():
    from IPython.kernel import TaskRejectError, client
    from IPython.kernel.client import MapTask
    from IPython.kernel.error import CompositeError

    assert client is kernel.client
    assert MapTask is kernel.client.MapTask
    assert CompositeError is kernel.client.CompositeError
    assert TaskRejectError is kernel.errors.UnmetDependency


def test_real_ipython_is_left_alone():
    import IPython

    assert hasattr(IPython, "embed") and hasattr(IPython, "get_ipython")


def test_without_ipython_installed(tmp_path):
    """A site directory holding everything but IPython, plus the shim: the alias still works."""
    site = Path(sysconfig.get_paths()["purelib"])
    fake = tmp_path / "site"
    fake.mkdir()
    for entry in site.iterdir():
        if not entry.name.lower().startswith("ipython"):
            (fake / entry.name).symlink_to(entry)
    (fake / "IPython" / "kernel").mkdir(parents=True)
    (fake / "IPython" / "kernel" / "__init__.py").write_text(SHIM.read_text())
    code = ("import IPython.kernel.client as c, kernel.client, IPython;"
            "assert c is kernel.client; assert not hasattr(IPython, 'embed'); print('ok')")
    env = dict(os.environ, PYTHONPATH=f"{fake}{os.pathsep}{REPO}")
    result = subprocess.run([sys.executable, "-S", "-c", code], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr


def test_host_port_tuple_explains_furl_files():
    with pytest.raises(BadFURLError, match="ipcontroller-mec.furl"):
        kernel.client.MultiEngineClient(("127.0.0.1", 10105))
    with pytest.raises(BadFURLError, match="FURL file"):
        kernel.client.TaskClient(("127.0.0.1", 10113))
