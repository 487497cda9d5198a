"""Fixtures of the multiengine contract suite: every test runs on both clusters.

``backend`` is an in-process cluster (``InProcessCluster``: the controller
service and 4 engines in threads of this process, over TLS) or a real one
(processes over TLS, whose controller serves the engines through 2 relay
processes, ``ipcontroller --relays 2``: other integration tests run the
controller without), shared by a module. ``mec`` is a fresh
client on 4 registered engines whose namespaces, counters and properties were
just reset.
"""

import sys

import pytest

from tests.harness import InProcessCluster, ProcessBackend
from tests.harness.inprocess import stop_reactor

RELAYED = ("--relays", "2")


@pytest.fixture(scope="session")
def _reactor_thread_cleanup():
    yield
    stop_reactor()


@pytest.fixture(scope="module", params=["inprocess", "process"])
def backend(request, tmp_path_factory, _reactor_thread_cleanup):
    if request.param == "inprocess":
        cluster = InProcessCluster(tmp_path_factory.mktemp("inprocess4"))
    else:
        cluster = ProcessBackend.start(tmp_path_factory.mktemp("relayed4"), controller_args=RELAYED)
    yield cluster
    cluster.stop()


@pytest.fixture
def mec(backend):
    backend.ensure_engines(4)
    client = backend.mec()
    client.interrupt(block=True)  # code a failed test left running does not hold up every test after it
    client.reset()
    yield client
    client.close()


@pytest.fixture
def fresh_backend(backend, tmp_path):
    """Make a separate small cluster of the same kind as ``backend`` (for kill and no-engine tests)."""
    made = []

    def make(engines=2):
        if backend.name == "inprocess":
            cluster = InProcessCluster(tmp_path / f"inprocess-{len(made)}", engines=engines)
        else:
            cluster = ProcessBackend.start(tmp_path / f"process-{len(made)}", engines=engines,
                                           controller_args=RELAYED)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop()


@pytest.fixture(scope="module")
def shell(tmp_path_factory):
    """IPython's real InteractiveShell: no history file, no colours; ``__main__`` put back after."""
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    saved_main = sys.modules.get("__main__")
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    config.InteractiveShell.colors = "nocolor"
    ip = InteractiveShell.instance(config=config, ipython_dir=str(tmp_path_factory.mktemp("ipython")))
    yield ip
    InteractiveShell.clear_instance()
    if saved_main is not None:
        sys.modules["__main__"] = saved_main
