"""A refused task over real TLS: its future, and any client asking about its id, get the refusal at once.

The controller runs with a ``lease_wait`` of an hour: a question about a
leased id it waited for would outlast the test's bounds, so every answer
here came from the controller's memory of the refusal, not from a wait.
The trigger: a negative task id in ``after``, which this client refuses
but a client that skips its checks (an older or a foreign one) sends, and
the ``run`` message's declaration refuses.
"""


import pytest

from kernel import client
from kernel.errors import BadRequest
from tests.harness.refused import Unchecked, refused_as

LEASE_WAIT = 3600.0
WAIT = 60.0  # bounds each wait here; far below LEASE_WAIT


@pytest.fixture
def slow_lease_cluster(cluster_factory):
    return cluster_factory(controller_args=["--lease-wait", str(LEASE_WAIT)]).start(1)


def test_a_refused_tasks_future_and_other_clients_get_the_refusal_at_once(slow_lease_cluster):
    with client.TaskClient(slow_lease_cluster.tc_furl) as tc:
        future = tc.executor(after=Unchecked(0)).submit(abs, -3)
        with pytest.raises(BadRequest, match=refused_as(future.taskid)):
            future.result(WAIT)
        again = tc.future(future.taskid)
        assert isinstance(again.exception(WAIT), BadRequest)
        with client.TaskClient(slow_lease_cluster.tc_furl) as other:
            for ask in (lambda: other.get_task_result(future.taskid, block=True),
                        lambda: other.barrier([future.taskid]), lambda: other.task_status(future.taskid)):
                with pytest.raises(BadRequest, match=refused_as(future.taskid)):
                    ask()
        assert tc.submit(abs, -3).result(WAIT) == 3  # the client goes on
        assert tc.queue_status()["succeeded"] == 1  # its future reported the refusal: no call raises it again
        bad = tc.run(client.MapTask(abs, (-3,), after=Unchecked(0)))
        with pytest.raises(BadRequest, match=refused_as(bad)):
            tc.queue_status()  # a run()'s refusal has no future: the next call reports it, once
        assert tc.queue_status()["succeeded"] == 1
