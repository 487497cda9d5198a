"""The results a barrier left on the client, across a controller restart (real processes, TLS)."""

import signal

import pytest

from kernel import client
from kernel.client import MapTask
from tests.harness import until_answered


def square(x):
    return x * x


def barrier_then_kill(cluster_factory, n):
    """A client that ran ``square(i)`` for i < n and waited for them, and its controller, SIGKILLed."""
    c = cluster_factory().start(engines=1)
    tc = client.TaskClient(c.tc_furl)
    ids = [tc.run(MapTask(square, (i,))) for i in range(n)]
    tc.barrier(ids)
    c.kill_controller(signal.SIGKILL)
    return c, tc, ids


def test_a_restart_between_barrier_and_fetch_loses_no_result(cluster_factory):
    c, tc, ids = barrier_then_kill(cluster_factory, 10)
    c.start_controller()
    assert [tc.get_task_result(t) for t in ids[:5]] == [0, 1, 4, 9, 16]  # on the client already
    until_answered(tc.queue_status)  # a new connection: what is left here is dropped, and asked for again
    assert [tc.get_task_result(t, block=True) for t in ids[5:]] == [25, 36, 49, 64, 81]  # stored, or run again


def test_results_kept_here_are_not_given_for_the_ids_of_a_new_store(cluster_factory):
    c, tc, ids = barrier_then_kill(cluster_factory, 3)
    c.start_controller("--reset-db")  # a new store: these ids mean nothing to it
    until_answered(tc.queue_status)
    for taskid in ids:
        with pytest.raises(IndexError):
            tc.get_task_result(taskid)
