"""The clusters the tests run on, and how they wait. No tests here.

- ``processes``: ``ProcessCluster``, a controller and engines as real
  processes over TLS, each started, killed and restarted alone (the
  ``cluster``, ``cluster4`` and ``cluster_factory`` fixtures); and
  ``ProcessBackend``, such a cluster as the contract suites drive it.
- ``inprocess``: ``InProcessCluster``, the real controller service and
  engine core in threads of the test process, over TLS on a reactor thread
  (the multiengine contract suite's in-process backend).
- ``world``: ``World``, the same service and engine core on a virtual clock,
  linked in memory (the task suites' in-process backend, and the task
  controller's unit tests).
- ``hold``: tasks that keep an engine busy until released.
- ``refused``: a task the controller refuses, and the words it answers with.
- ``waiting``: ``wait_for``, a condition polled with a deadline.

Both contract suites run each test on an in-process and a process cluster
(``make_backend``); what they ask of both is ``base.Backend``.
"""

from tests.harness.base import LEASE_WAIT, Backend
from tests.harness.hold import HOLD_CODE, Hold
from tests.harness.inprocess import InProcessCluster
from tests.harness.processes import ProcessBackend, ProcessCluster
from tests.harness.waiting import STARTUP_TIMEOUT, until_answered, wait_for
from tests.harness.world import World

__all__ = ["HOLD_CODE", "LEASE_WAIT", "STARTUP_TIMEOUT", "Backend", "Hold", "InProcessCluster", "ProcessBackend",
           "ProcessCluster", "World", "make_backend", "until_answered", "wait_for"]


def make_backend(kind, directory, **options):
    """A task suite's cluster: ``World`` for ``"inprocess"``, ``ProcessBackend`` for ``"process"``."""
    return World(directory, **options) if kind == "inprocess" else ProcessBackend.start(directory, **options)
