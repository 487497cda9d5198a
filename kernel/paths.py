"""Where a cluster keeps its files: the IPython directory and its subfolders.

``DIR`` is ``--ipythondir``, else ``$IPYTHONDIR``, else ``~/.ipython``. FURL files
and keys live in ``DIR/security`` (mode 0700), logs in ``DIR/log``, controller
state in ``DIR/db``.
"""

import os
from pathlib import Path

ENGINE_FURL = "ipcontroller-engine.furl"
MEC_FURL = "ipcontroller-mec.furl"
TC_FURL = "ipcontroller-tc.furl"


def ipython_dir(explicit=None):
    """Return the cluster directory, creating it if needed."""
    chosen = explicit or os.environ.get("IPYTHONDIR") or os.path.join("~", ".ipython")
    path = Path(chosen).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _private_dir(base, name):
    """``base/name``, made if needed and re-locked to 0700 every time, whatever made it before."""
    path = Path(base) / name
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def security_dir(base):
    """The private folder for keys and FURL files."""
    return _private_dir(base, "security")


def log_dir(base):
    path = Path(base) / "log"
    path.mkdir(parents=True, exist_ok=True)
    return path


def db_dir(base):
    """The controller's task store: task code and results, private like ``security``."""
    return _private_dir(base, "db")


def write_private(path, data):
    """Write ``data`` to ``path`` atomically with mode 0600.

    A reader sees either the old file or the whole new one, never a part.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    return path
