"""One install gives ``from IPython.kernel import client``: a wheel of the project, and the
editable install the Makefile makes, each in a fresh virtualenv, without IPython and beside a real one.

The virtualenvs take this one's packages through a ``.pth`` file (so nothing is downloaded
for them), less kernel and IPython; the real IPython, where wanted, is copied into the
virtualenv's own site-packages, where pip puts ``IPython/kernel`` beside it. Building uses
pip's isolated build with requirements/lock.txt's setuptools, as ``make`` does.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import kernel

REPO = Path(kernel.__file__).resolve().parent.parent
SITE = Path(sysconfig.get_paths()["purelib"])
NOT_SHARED = ("IPython", "kernel", "__editable__", "_distutils_hack")  # name prefixes kept out of the seed

CHECK = """\
import json, IPython, kernel
import IPython.kernel.magic
from IPython.kernel import asyncclient, client, error
print(json.dumps({
    "kernel": kernel.__file__,
    "same": client is kernel.client and IPython.kernel.magic is kernel.magic,
    "real_ipython": hasattr(IPython, "embed"),
    "errors": all(hasattr(error, n) for n in ("InvalidDeferredID", "NotAPendingResult",
                                              "StopLocalExecution", "MissingBlockArgument")),
    "async": callable(asyncclient.get_multiengine_client),
}))
"""


def pip(*args, python=None):
    env = dict(os.environ, PIP_CONSTRAINT=str(REPO / "requirements" / "lock.txt"),
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    target = ["--python", str(python)] if python else []
    result = subprocess.run([sys.executable, "-m", "pip", *target, *args], env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"pip {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A copy of the source tree, since builds write into theirs (egg-info, build/)."""
    copy = tmp_path_factory.mktemp("source") / "kernel"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
        ".hypothesis", "_build", "results"))
    return copy


@pytest.fixture(scope="module")
def wheel(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    pip("wheel", "--no-deps", "--wheel-dir", str(out), str(source))
    [built] = out.glob("kernel-*.whl")
    return built


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    """Links to this virtualenv's packages, except kernel and IPython (and .pth files)."""
    seed = tmp_path_factory.mktemp("seed")
    for entry in SITE.iterdir():
        if entry.name.startswith(NOT_SHARED) or entry.name.startswith("ipython-") or entry.suffix == ".pth":
            continue
        (seed / entry.name).symlink_to(entry)
    return seed


def fresh_venv(path, seed, with_ipython):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    python = path / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True, timeout=60).stdout.strip())
    (site / "seed.pth").write_text(f"{seed}\n")
    if with_ipython:  # installed the way pip installs it: in this site-packages
        shutil.copytree(SITE / "IPython", site / "IPython", ignore=shutil.ignore_patterns("kernel", "__pycache__"))
        for info in SITE.glob("ipython-*.dist-info"):
            shutil.copytree(info, site / info.name)
    return python


@pytest.mark.parametrize("with_ipython", [False, True], ids=["without-ipython", "beside-ipython"])
@pytest.mark.parametrize("how", ["wheel", "editable"])
def test_one_install_gives_the_legacy_import(how, with_ipython, source, seed, tmp_path, request):
    if with_ipython and not (SITE / "IPython" / "__init__.py").exists():
        pytest.skip("IPython is not installed in this virtualenv")
    python = fresh_venv(tmp_path / "venv", seed, with_ipython)
    if how == "wheel":
        pip("install", "--no-deps", "--no-index", str(request.getfixturevalue("wheel")), python=python)
    else:
        pip("install", "--no-deps", "--editable", str(source), python=python)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([str(python), "-c", CHECK], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    installed_in = tmp_path / "venv" if how == "wheel" else source
    assert Path(found["kernel"]).is_relative_to(installed_in), found["kernel"]
    assert found["same"] and found["errors"] and found["async"]
    assert found["real_ipython"] is with_ipython
