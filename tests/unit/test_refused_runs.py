"""A task the controller refused: questions about its id get the refusal at once, not after lease_wait.

``run()`` returns a leased id before the controller has seen the task. A
task it refuses (here: a negative task id in ``after``, which this client
refuses but one that skips its checks, an older or a foreign one, sends)
never comes, so the controller remembers the refusal (``kernel.controller.refusals``) and
answers with it. On the in-process ``World``'s virtual clock, "at once"
means: no virtual time passed, where waiting ``lease_wait`` would move the
clock by ``LEASE_WAIT``. The last test is the client's future alone: a
``cancel()`` whose abort raises the refusal loses no outcome.
"""

import re

import pytest

from kernel.client import MapTask, StringTask
from kernel.client.futures import TaskFuture
from kernel.controller.refusals import Refusals
from kernel.errors import BadRequest, InternalError, NoSuchTask
from kernel.wire import messages, serialize
from tests.harness import LEASE_WAIT
from tests.harness.refused import REASON, Unchecked, refusal, refused_as


def bad_task():
    return MapTask(abs, (-3,), after=Unchecked(0))


def reported(tc):
    """The refusals the client's next calls report, one a call, until a call goes through."""
    errors = []
    while True:
        try:
            tc.queue_status()
            return errors
        except BadRequest as e:
            errors.append(str(e))


def test_every_question_about_a_refused_task_gets_its_refusal_at_once(world_factory):
    w = world_factory(engines=1)
    ok = w.tc.run(StringTask("a = 1", pull="a"))
    bad = w.tc.run(bad_task())
    other = w.client()
    start = w.clock.seconds()
    for ask in (lambda: other.get_task_result(bad), lambda: other.get_task_result(bad, block=True),
                lambda: other.barrier([ok, bad]), lambda: other.task_status(bad), lambda: other.abort(bad)):
        with pytest.raises(BadRequest, match=refused_as(bad)):
            ask()
    assert w.clock.seconds() - start < LEASE_WAIT
    assert reported(w.tc) == [refusal(bad)]
    assert w.tc.get_task_result(ok, block=True).ns.a == 1  # the client and its other tasks go on


def test_a_question_already_waiting_for_the_id_is_answered_when_the_refusal_comes(world_factory):
    w = world_factory(engines=1)
    first = w.tc.run(StringTask("a = 1"))
    other = w.client()
    rid = other._connection.request(messages.GetResults.header(taskids=[first + 1], block=True))
    w.settle()
    assert w.controller.expected  # it waits for the leased id
    start = w.clock.seconds()
    assert w.tc.run(bad_task()) == first + 1
    with pytest.raises(BadRequest, match=refused_as(first + 1)):
        other._connection.wait(rid)
    assert w.clock.seconds() - start < LEASE_WAIT and not w.controller.expected
    assert reported(w.tc) == [refusal(first + 1)]


def test_a_refused_id_is_never_accepted_afterwards(world_factory):
    w = world_factory(engines=1)
    bad = w.tc.run(bad_task())
    reported(w.tc)
    good = StringTask("a = 5", pull="a")
    run = messages.Run.header(tasks=[[good.spec()]], counts=[1], ids=[bad])
    with pytest.raises(BadRequest, match=f"^{re.escape(REASON)}$"):  # its first reason, as its run was answered
        w.tc._connection.call(run, serialize.dumps(good))
    assert not w.controller.submitted(bad)
    assert w.controller.queries.status()["scheduled"] == 0


def test_a_refused_run_sent_again_after_a_lost_answer_is_refused_again_and_dropped(world_factory):
    w = world_factory(engines=1)
    bad = w.tc.run(bad_task())
    w.tc._connection.generation = 1  # the connection was replaced before the answer was read
    assert reported(w.tc) == [refusal(bad)]
    assert w.tc._pipeline.pending() == []  # not kept to be sent yet again
    assert not w.controller.submitted(bad)


def test_the_controller_remembers_only_the_newest_refusals(world_factory):
    w = world_factory(engines=1)
    w.controller.refusals.kept = 2
    bad = [w.tc.run(bad_task()) for _ in range(3)]
    assert len(reported(w.tc)) == 3
    other = w.client()
    for taskid in bad[1:]:
        with pytest.raises(BadRequest, match=refused_as(taskid)):
            other.get_task_result(taskid)
    start = w.clock.seconds()
    with pytest.raises(NoSuchTask, match=f"task {bad[0]} was leased by a client but not submitted within"):
        other.get_task_result(bad[0])  # forgotten: waited for, as any leased id
    assert w.clock.seconds() - start >= LEASE_WAIT


def test_a_restarted_controller_has_forgotten_its_refusals(world_factory):
    first = world_factory("dir", engines=0)
    bad = first.tc.run(bad_task())
    reported(first.tc)
    first.stop()
    again = world_factory("dir", engines=0)
    start = again.clock.seconds()
    with pytest.raises(NoSuchTask, match=f"task {bad} was leased by a client but not submitted within"):
        again.tc.get_task_result(bad)
    assert again.clock.seconds() - start >= LEASE_WAIT


def test_refusals_keep_the_first_reason_of_each_id_and_name_the_lowest_asked():
    refusals = Refusals(kept=3)
    refusals.note([4, 5], BadRequest("malformed"))
    refusals.note([5, 6], InternalError("a fault"))
    assert type(refusals.reason(5)) is BadRequest and str(refusals.reason(5)) == "malformed"
    error = refusals.error([9, 6, 5])
    assert type(error) is BadRequest and str(error) == "task 5 was refused by the controller: malformed"
    assert refusals.error([1, 2]) is None
    refusals.note([7], KeyError("No task #7"))
    assert 4 not in refusals and 7 in refusals  # the oldest goes
    assert str(refusals.reason(7)) == "'No task #7'"  # a KeyError's message, not its repr


class _Connection:
    """What a TaskFuture asks of its connection, with nothing behind it."""

    def __init__(self):
        self.asked = 0

    def request(self, header):
        self.asked += 1
        return self.asked

    def watch(self, future):
        pass


def test_a_cancel_that_raises_leaves_its_future_the_outcome_that_came_meanwhile():
    refused = BadRequest("task 3 was refused by the controller: malformed")

    class Client:
        _connection = _Connection()

        def abort(self, taskid):
            future.settle([], refused)  # the reader's answer to the future comes during the abort
            raise refused

    future = TaskFuture(Client(), 3, None)
    with pytest.raises(BadRequest) as raised:
        future.cancel()
    assert raised.value is refused
    assert future.exception(0) is refused and not future.cancelled()
