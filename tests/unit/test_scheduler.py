"""Unit tests of the task scheduler state machine: events in, actions out.

Every test drives the scheduler with explicit ``now`` values and a seeded
``random.Random``, so it is deterministic and never sleeps.

Its cost per task, at 2 and at 100 engines, is measured (not asserted) by
``python -m bench.scheduler``.
"""

import random

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from kernel.controller.events import (
    AbortTask,
    EngineAdded,
    EngineRemoved,
    Outcome,
    PropertiesChanged,
    Spin,
    TaskDone,
    TaskSubmitted,
    Tick,
)
from kernel.controller.scheduler import SCHEMES, Dependency, Dispatch, Finish, InvalidState, Scheduler, TaskSpec

SUCCESS, FAILURE, DECLINED, UNMET = Outcome.SUCCESS, Outcome.FAILURE, Outcome.DECLINED, Outcome.UNMET


def make(scheme="leastload", engines=(), hwm=2, seed=0, **kw):
    s = Scheduler(scheme, hwm=hwm, rng=random.Random(seed), **kw)
    for eid in engines:
        s.handle(EngineAdded(eid))
    return s


def sent(actions):
    """(taskid, eid) of every Dispatch, in order."""
    return [(a.taskid, a.eid) for a in actions if isinstance(a, Dispatch)]


def ended(actions):
    """(taskid, succeeded, error) of every Finish, in order."""
    return [(a.taskid, a.succeeded, a.error) for a in actions if isinstance(a, Finish)]


def only_finish(actions):
    (finish,) = [a for a in actions if isinstance(a, Finish)]
    return finish


def submit_all(s, ids, now=0, **kw):
    actions = []
    for i in ids:
        actions += s.handle(TaskSubmitted(TaskSpec(i, **kw), now))
    return actions


# --------------------------------------------------------------- construction


def test_unknown_scheme_is_named_in_the_error():
    with pytest.raises(ValueError, match="'fastest'"):
        Scheduler("fastest")


def test_negative_hwm_is_rejected():
    with pytest.raises(ValueError, match="hwm"):
        Scheduler(hwm=-1)


def test_default_scheme_is_leastload():
    assert Scheduler().scheme == "leastload"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_runs_a_simple_workload(scheme):
    s = make(scheme, engines=[0, 1, 2], hwm=2, seed=3)
    actions = submit_all(s, range(20))
    running = sent(actions)
    assert len(running) == 6
    done = []
    for _ in range(20):
        tid, eid = running.pop(0)
        actions = s.handle(TaskDone(tid, eid, SUCCESS, 1))
        done += ended(actions)
        running += sent(actions)
        assert all(s.engine_load(e) <= 2 for e in (0, 1, 2))
    assert sorted(t for t, _, _ in done) == list(range(20))
    assert s.status() == {"scheduled": 0, "pending": 0, "succeeded": 20, "failed": 0}


# -------------------------------------------------------------------- schemes


def test_leastload_prefers_the_least_loaded_engine():
    s = make("leastload", engines=[0, 1, 2], hwm=0)
    assert sent(submit_all(s, [0, 1, 2])) == [(0, 0), (1, 1), (2, 2)]
    s.handle(TaskDone(1, 1, SUCCESS, 1))
    assert sent(s.handle(TaskSubmitted(TaskSpec(3), 1))) == [(3, 1)]


def test_leastload_breaks_ties_by_most_recent_use():
    s = make("leastload", engines=[0, 1, 2], hwm=0)
    submit_all(s, [0, 1, 2])  # engine 0 used first, then 1, then 2: new engines by arrival
    # all loads are 1: the most recently used engine wins, its caches warm
    assert sent(s.handle(TaskSubmitted(TaskSpec(3), 1))) == [(3, 2)]
    for tid, eid in [(3, 2), (0, 0), (1, 1), (2, 2)]:
        s.handle(TaskDone(tid, eid, SUCCESS, 2))
    # one tiny task after another runs where the last one ran
    for tid in range(4, 8):
        assert sent(s.handle(TaskSubmitted(TaskSpec(tid), 3))) == [(tid, 2)]
        s.handle(TaskDone(tid, 2, SUCCESS, 3))


def test_leastload_puts_an_engine_whose_last_task_failed_last_among_equals():
    s = make("leastload", engines=[0, 1, 2], hwm=0)
    s.handle(EngineAdded(3))  # never used
    for tid, eid in [(0, 0), (1, 1), (2, 2)]:
        assert sent(s.handle(TaskSubmitted(TaskSpec(tid), 1))) == [(tid, eid)]
    s.handle(TaskDone(2, 2, FAILURE, 2))
    s.handle(TaskDone(1, 1, SUCCESS, 2))
    s.handle(TaskDone(0, 0, FAILURE, 2))
    # idle: 1 (used, its task succeeded), 3 (never used), 2 and 0 (failed; 0 the latest)
    assert sent(submit_all(s, [10, 11, 12, 13])) == [(10, 1), (11, 3), (12, 2), (13, 0)]
    s.handle(TaskDone(13, 0, SUCCESS, 3))  # a success warms it again: the last used
    assert sent(s.handle(TaskSubmitted(TaskSpec(14), 3))) == [(14, 0)]


def test_lru_ignores_load():
    s = make("lru", engines=[0, 1, 2], hwm=0)
    assert sent(submit_all(s, [0, 1, 2])) == [(0, 0), (1, 1), (2, 2)]
    s.handle(TaskDone(2, 2, SUCCESS, 1))  # engine 2 is now idle but most recently used
    assert sent(submit_all(s, [3, 4, 5])) == [(3, 0), (4, 1), (5, 2)]


def test_new_engines_come_before_used_ones_in_arrival_order():
    s = make("lru", engines=[5, 3], hwm=0)
    assert sent(s.handle(TaskSubmitted(TaskSpec(0), 0))) == [(0, 5)]
    s.handle(EngineAdded(9))
    assert sent(submit_all(s, [1, 2, 3])) == [(1, 3), (2, 9), (3, 5)]


def test_plainrandom_is_reproducible_and_spreads_work():
    def run(seed):
        s = make("plainrandom", engines=[0, 1, 2], hwm=0, seed=seed)
        return [eid for _, eid in sent(submit_all(s, range(3000)))]

    first = run(7)
    assert first == run(7)
    assert first != run(8)
    for eid in (0, 1, 2):
        assert 800 < first.count(eid) < 1200


class Scripted(random.Random):
    """A Random whose randrange answers come from a script."""

    def __init__(self, answers):
        super().__init__(0)
        self.answers = list(answers)

    def randrange(self, *args):
        return self.answers.pop(0)


def test_twobin_takes_the_less_recently_used_of_two_random_engines():
    s = Scheduler("twobin", hwm=0, rng=Scripted([2, 0, 0, 1, 1, 1]))
    for eid in (0, 1, 2):
        s.handle(EngineAdded(eid))
    # picks engines 2 and 0, neither used: 0 arrived first, so it is older
    assert sent(s.handle(TaskSubmitted(TaskSpec(0), 0))) == [(0, 0)]
    # picks 0 (just used) and 1 (never used): 1
    assert sent(s.handle(TaskSubmitted(TaskSpec(1), 0))) == [(1, 1)]
    # the same engine twice: that one
    assert sent(s.handle(TaskSubmitted(TaskSpec(2), 0))) == [(2, 1)]


def test_twobin_is_reproducible():
    def run(seed):
        s = make("twobin", engines=range(5), hwm=0, seed=seed)
        return sent(submit_all(s, range(200)))

    assert run(1) == run(1)


def test_weighted_strongly_prefers_idle_engines():
    s = make("weighted", engines=[0, 1], hwm=0, seed=11)
    for i in range(40):
        for tid, eid in sent(s.handle(TaskSubmitted(TaskSpec(i), 0))):
            if eid == 1:
                s.handle(TaskDone(tid, eid, SUCCESS, 0))  # engine 1 is always idle again
    # an idle engine weighs a million times a busy one: engine 0 got only the first task
    assert s.engine_load(0) == 1


def test_weighted_favours_the_lighter_of_two_busy_engines():
    s = make("weighted", engines=[0, 1], hwm=0, seed=5)
    submit_all(s, range(3))
    loads = {eid: s.engine_load(eid) for eid in (0, 1)}
    assert sorted(loads.values()) == [1, 2]
    lighter = min(loads, key=loads.get)
    counts = {0: 0, 1: 0}
    for tid in range(3, 903):  # each task ends at once, so the loads stay 1 and 2
        ((_, eid),) = sent(s.handle(TaskSubmitted(TaskSpec(tid), 0)))
        counts[eid] += 1
        s.handle(TaskDone(tid, eid, SUCCESS, 0))
    # two weighted draws, the lighter kept: the heavier wins only if drawn twice, 1/9 here
    assert 700 < counts[lighter] < 900


def test_weighted_is_reproducible():
    def run(seed):
        s = make("weighted", engines=range(4), hwm=3, seed=seed)
        actions = submit_all(s, range(12))
        for tid, eid in sent(actions)[::2]:
            actions += s.handle(TaskDone(tid, eid, SUCCESS, 1))
        return sent(actions)

    assert run(4) == run(4)


@pytest.mark.parametrize("hwm", [0, 3])
@pytest.mark.parametrize("refusals", [False, True])
def test_leastload_and_lru_hold_over_a_long_random_run(hwm, refusals):
    """Checks every choice against a brute-force model of the two schemes. With refusals, tasks
    that engines decline or fail are placed among the other engines by the same rule."""
    rng = random.Random(9)
    for scheme in ("leastload", "lru"):
        s = make(scheme, engines=range(6), hwm=hwm)
        running = {eid: [] for eid in range(6)}
        last_use = {eid: -100 + eid for eid in range(6)}  # never used: arrival order
        warmth = {eid: -100 - eid for eid in range(6)}  # leastload's tie-break: the higher, the sooner
        avoid = {}  # taskid -> engines it was refused or failed on
        uses = 0
        for tid in range(3000):
            busy = [e for e in running if running[e]]
            if busy and rng.random() < 0.5:
                eid = rng.choice(busy)
                done = running[eid].pop(rng.randrange(len(running[eid])))
                outcome = rng.choice([SUCCESS, SUCCESS, DECLINED, FAILURE]) if refusals else SUCCESS
                if outcome is not SUCCESS and len(avoid.get(done, ())) < 4:
                    avoid.setdefault(done, set()).add(eid)
                else:
                    outcome = SUCCESS
                if outcome is FAILURE:
                    warmth[eid] = -1000 - tid  # below every used and never used engine
                actions = s.handle(TaskDone(done, eid, outcome, 0))
            else:
                actions = s.handle(TaskSubmitted(TaskSpec(tid, retries=5, has_depend=True), 0))
            for t, eid in sent(actions):
                free = [e for e in running if (not hwm or len(running[e]) < hwm) and e not in avoid.get(t, ())]
                if scheme == "leastload":
                    best = min(free, key=lambda e: (len(running[e]), -warmth[e]))
                else:
                    best = min(free, key=last_use.get)
                assert eid == best
                running[eid].append(t)
                uses += 1
                last_use[eid] = warmth[eid] = uses
        s.validate_state()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_restricted_tasks_also_follow_the_scheme_and_avoid_refusers(scheme):
    s = make(scheme, engines=[0, 1, 2], hwm=0, seed=2)
    (first,) = sent(s.handle(TaskSubmitted(TaskSpec(0, has_depend=True), 0)))
    refuser = first[1]
    actions = s.handle(TaskDone(0, refuser, DECLINED, 1))
    ((tid, eid),) = sent(actions)
    assert tid == 0 and eid != refuser


@pytest.mark.parametrize("scheme", ["plainrandom", "twobin", "weighted"])
def test_random_schemes_place_a_restricted_task_among_the_engines_it_may_use(scheme):
    s = make(scheme, engines=range(4), hwm=0, seed=3)
    places, declined = [], 0
    for tid in range(600):
        ((_, eid),) = sent(s.handle(TaskSubmitted(TaskSpec(tid, has_depend=True), 0)))
        if eid == 0:  # engine 0 declines everything: the task is restricted to the others
            declined += 1
            ((_, eid),) = sent(s.handle(TaskDone(tid, eid, DECLINED, 0)))
        places.append(eid)
        s.handle(TaskDone(tid, eid, SUCCESS, 0))
    assert declined > 60 and 0 not in places
    for eid in (1, 2, 3):
        assert places.count(eid) > 120


# ------------------------------------------------------------- hwm and order


def test_hwm_limits_outstanding_tasks_per_engine():
    s = make(engines=[0, 1], hwm=2)
    assert len(sent(submit_all(s, range(10)))) == 4
    assert s.engine_load(0) == s.engine_load(1) == 2
    assert s.status() == {"scheduled": 6, "pending": 4, "succeeded": 0, "failed": 0}
    assert sent(s.handle(TaskDone(0, 0, SUCCESS, 1))) == [(4, 0)]


def test_hwm_zero_means_no_limit():
    s = make(engines=[0, 1], hwm=0)
    assert len(sent(submit_all(s, range(10)))) == 10


def test_a_new_engine_takes_a_batch_of_queued_tasks_in_one_event():
    s = make(hwm=5)
    assert submit_all(s, range(500)) == []
    assert sent(s.handle(EngineAdded(0))) == [(i, 0) for i in range(5)]
    s2 = make(hwm=0)
    submit_all(s2, range(500))
    assert len(sent(s2.handle(EngineAdded(0)))) == 500


def test_tasks_are_dispatched_first_in_first_out():
    s = make(hwm=1)
    submit_all(s, range(10))
    order = sent(s.handle(EngineAdded(0)))
    for _ in range(9):
        order += sent(s.handle(TaskDone(order[-1][0], 0, SUCCESS, 1)))
    assert [t for t, _ in order] == list(range(10))


def test_slots_of_finished_tasks_are_reused_by_that_engine():
    s = make(engines=[0, 1], hwm=1)
    submit_all(s, range(4))
    assert sent(s.handle(TaskDone(1, 1, SUCCESS, 1))) == [(2, 1)]
    assert sent(s.handle(TaskDone(0, 0, SUCCESS, 1))) == [(3, 0)]


# ----------------------------------------------------------- retries, recovery


def test_a_failed_task_is_retried_on_another_engine_even_if_its_own_is_free():
    s = make(engines=[0, 1], hwm=1)
    submit_all(s, [0], retries=1)
    submit_all(s, [1, 2])
    # 0 on engine 0, 1 on engine 1; 0 fails: engine 0 is free but 0 would rather not go back
    actions = s.handle(TaskDone(0, 0, FAILURE, 1))
    assert ended(actions) == []
    assert sent(actions) == [(2, 0)]
    assert s.state(0) == "scheduled" and s.waiting_reason(0) is None  # only for a free slot
    assert sent(s.handle(TaskDone(1, 1, SUCCESS, 2))) == [(0, 1)]
    assert ended(s.handle(TaskDone(0, 1, SUCCESS, 3))) == [(0, True, None)]


def test_a_retry_goes_back_to_a_failing_engine_when_no_other_is_alive():
    s = make(engines=[0], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0, retries=2), 0))
    assert sent(s.handle(TaskDone(0, 0, FAILURE, 1))) == [(0, 0)]
    assert sent(s.handle(TaskDone(0, 0, FAILURE, 2))) == [(0, 0)]
    assert ended(s.handle(TaskDone(0, 0, FAILURE, 3))) == [(0, False, None)]


def test_a_retry_waiting_for_other_engines_takes_a_new_engine():
    s = make(engines=[0, 1], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0, retries=1), 0))
    s.handle(TaskSubmitted(TaskSpec(1), 0))
    assert s.handle(TaskDone(0, 0, FAILURE, 1)) == []  # engine 1 is busy, engine 0 failed it
    assert sent(s.handle(EngineAdded(2))) == [(0, 2)]


def test_a_retry_stops_waiting_when_the_other_engines_die():
    s = make(engines=[0, 1], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0, retries=1), 0))
    s.handle(TaskSubmitted(TaskSpec(1), 0))
    s.handle(TaskDone(0, 0, FAILURE, 1))
    actions = s.handle(EngineRemoved(1, 2, "lost"))
    assert ended(actions) == [(1, False, "EngineDied")]
    assert sent(actions) == [(0, 0)]  # engine 0 is all there is


def test_retries_go_to_the_back_of_the_queue():
    s = make(engines=[0], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0, retries=1), 0))
    submit_all(s, [1, 2])
    s.handle(EngineAdded(1))  # takes task 1
    order = sent(s.handle(TaskDone(0, 0, FAILURE, 1)))  # 0 avoids engine 0: engine 0 takes 2
    assert order == [(2, 0)]
    assert sent(s.handle(TaskDone(1, 1, SUCCESS, 2))) == [(0, 1)]


def test_exhausted_retries_finish_with_the_engines_own_failure():
    s = make(engines=[0, 1], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0, retries=1), 0))
    assert sent(s.handle(TaskDone(0, 0, FAILURE, 1))) == [(0, 1)]
    finish = only_finish(s.handle(TaskDone(0, 1, FAILURE, 2)))
    assert finish == Finish(0, False, None, "")
    assert s.state(0) == "failed"


def test_recovery_runs_under_the_same_taskid_once_retries_are_exhausted():
    recovery = TaskSpec(0, retries=1)
    spec = TaskSpec(0, retries=1, recovery=recovery)
    s = make(engines=[0, 1], hwm=1)
    (d,) = s.handle(TaskSubmitted(spec, 0))
    assert d.spec is spec
    (d,) = s.handle(TaskDone(0, d.eid, FAILURE, 1))
    assert d.spec is spec  # a plain retry
    (d,) = s.handle(TaskDone(0, d.eid, FAILURE, 2))
    assert d.spec is recovery and d.taskid == 0
    (d,) = s.handle(TaskDone(0, d.eid, FAILURE, 3))
    assert d.spec is recovery  # the recovery's own retry
    assert ended(s.handle(TaskDone(0, d.eid, FAILURE, 4))) == [(0, False, None)]


def test_recovery_chains_and_success_of_a_recovery():
    last = TaskSpec(0)
    middle = TaskSpec(0, recovery=last)
    spec = TaskSpec(0, recovery=middle)
    s = make(engines=[0], hwm=1)
    s.handle(TaskSubmitted(spec, 0))
    assert s.handle(TaskDone(0, 0, FAILURE, 1))[0].spec is middle
    assert s.handle(TaskDone(0, 0, FAILURE, 2))[0].spec is last
    assert ended(s.handle(TaskDone(0, 0, SUCCESS, 3))) == [(0, True, None)]
    assert s.status() == {"scheduled": 0, "pending": 0, "succeeded": 1, "failed": 0}


def test_recovery_may_have_its_own_dependencies():
    s = make(engines=[0], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0, recovery=TaskSpec(0, after=Dependency({7}))), 0))
    finish = only_finish(s.handle(TaskDone(0, 0, FAILURE, 1)))
    assert finish.error == "ImpossibleDependency" and "[7]" in finish.message


def test_a_recovery_chain_that_loops_is_rejected():
    a, b = TaskSpec(0), TaskSpec(0)
    a.recovery, b.recovery = b, a
    s = make(engines=[0])
    with pytest.raises(ValueError, match="loops"):
        s.handle(TaskSubmitted(a, 0))
    selfish = TaskSpec(1)
    selfish.recovery = selfish
    with pytest.raises(ValueError, match="loops"):
        s.handle(TaskSubmitted(selfish, 0))
    assert s.status() == {"scheduled": 0, "pending": 0, "succeeded": 0, "failed": 0}


# ------------------------------------------------------------ declined, unmet


def test_a_declined_task_is_not_offered_to_that_engine_again():
    s = make(engines=[0, 1], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0, has_depend=True), 0))  # to engine 0
    s.handle(TaskSubmitted(TaskSpec(1), 0))  # to engine 1
    actions = s.handle(TaskDone(0, 0, DECLINED, 1))
    assert sent(actions) == []  # engine 0 is free but declined it
    assert s.state(0) == "scheduled" and s.waiting_reason(0) is None  # only for a free slot
    assert sent(s.handle(TaskDone(1, 1, SUCCESS, 2))) == [(0, 1)]


def test_declining_does_not_use_up_retries():
    s = make(engines=[0, 1], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0, has_depend=True), 0))
    assert sent(s.handle(TaskDone(0, 0, DECLINED, 1))) == [(0, 1)]
    assert ended(s.handle(TaskDone(0, 1, SUCCESS, 2))) == [(0, True, None)]


def test_a_task_every_engine_declined_waits_and_says_why():
    s = make(engines=[0, 1], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0, has_depend=True), 0))
    s.handle(TaskDone(0, 0, DECLINED, 1))
    assert s.handle(TaskDone(0, 1, DECLINED, 2)) == []
    assert s.waiting_reason(0) == "waiting for a dependency: no engine accepted it (declined by 0, 1)"
    assert s.state(0) == "scheduled"
    assert sent(s.handle(PropertiesChanged(1))) == [(0, 1)]


def test_properties_changed_reoffers_only_declined_tasks():
    s = make(engines=[0], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0, has_depend=True), 0))
    s.handle(TaskDone(0, 0, DECLINED, 1))
    s.handle(TaskSubmitted(TaskSpec(1), 1))  # plain tasks still run there
    assert sent(s.handle(TaskSubmitted(TaskSpec(2), 1))) == []
    assert sent(s.handle(TaskDone(1, 0, SUCCESS, 2))) == [(2, 0)]
    s.handle(TaskDone(2, 0, SUCCESS, 3))
    assert sent(s.handle(PropertiesChanged(0))) == [(0, 0)]


def test_unmet_is_not_offered_again_within_a_round():
    s = make(engines=[0, 1], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0, retries=3), 0))
    assert sent(s.handle(TaskDone(0, 0, UNMET, 1))) == [(0, 1)]
    assert s.handle(PropertiesChanged(1)) == []  # running on 1: nothing to wake
    assert s.rounds(0) == 0


def test_a_round_refused_by_every_engine_costs_a_retry_and_rests():
    s = make(engines=[0, 1], hwm=1, round_delay=1.5)
    s.handle(TaskSubmitted(TaskSpec(0, retries=2), 0))
    s.handle(TaskDone(0, 0, UNMET, 1))
    assert s.handle(TaskDone(0, 1, UNMET, 2)) == []  # no busy loop: it rests
    assert s.rounds(0) == 1 and s.state(0) == "scheduled"
    assert s.waiting_reason(0) == ("waiting for a dependency: no engine accepted it (unmet on 0, 1); "
                                   "it goes round them again shortly, 1 retries left")
    assert s.handle(Tick(3.4)) == []
    assert sent(s.handle(Tick(3.5))) == [(0, 1)]  # every engine may have it again: the last used first
    assert sent(s.handle(TaskDone(0, 1, UNMET, 4))) == [(0, 0)]
    assert ended(s.handle(TaskDone(0, 0, SUCCESS, 5))) == [(0, True, None)]


def test_with_no_retries_left_the_last_round_fails_naming_the_engines():
    s = make(engines=[0, 1], hwm=1, round_delay=1)
    s.handle(TaskSubmitted(TaskSpec(0, retries=1), 0))
    s.handle(TaskDone(0, 0, UNMET, 1))
    s.handle(TaskDone(0, 1, UNMET, 2))
    assert sent(s.handle(Tick(3))) == [(0, 1)]
    s.handle(TaskDone(0, 1, UNMET, 4))
    finish = only_finish(s.handle(TaskDone(0, 0, UNMET, 5)))
    assert (finish.taskid, finish.succeeded, finish.error) == (0, False, "UnmetDependency")
    assert finish.message == "task 0 was refused by every engine in 2 rounds (unmet on 0, 1) and has no retries left"
    assert s.state(0) == "failed" and s.rounds(0) == 0


def test_a_failure_and_a_round_draw_on_the_same_retries():
    s = make(engines=[0], hwm=1, round_delay=1)
    s.handle(TaskSubmitted(TaskSpec(0, retries=1), 0))
    assert sent(s.handle(TaskDone(0, 0, FAILURE, 1))) == [(0, 0)]  # the only retry
    assert ended(s.handle(TaskDone(0, 0, UNMET, 2))) == [(0, False, "UnmetDependency")]


def test_a_new_engine_takes_a_resting_task_at_once():
    s = make(engines=[0], hwm=1, round_delay=100)
    s.handle(TaskSubmitted(TaskSpec(0, retries=1), 0))
    assert s.handle(TaskDone(0, 0, UNMET, 1)) == []
    assert sent(s.handle(EngineAdded(1))) == [(0, 1)]
    assert ended(s.handle(TaskDone(0, 1, SUCCESS, 3))) == [(0, True, None)]
    assert s.handle(Tick(200)) == []  # the rest it left behind is stale


def test_a_property_change_on_a_refusing_engine_ends_the_rest():
    s = make(engines=[0, 1], hwm=1, round_delay=100)
    s.handle(TaskSubmitted(TaskSpec(0, retries=1, has_depend=True), 0))
    s.handle(TaskDone(0, 0, UNMET, 1))
    assert s.handle(TaskDone(0, 1, DECLINED, 2)) == []  # the round ends on a decline too
    assert s.rounds(0) == 1
    assert sent(s.handle(PropertiesChanged(0))) == [(0, 0)]  # 1 still declines it
    finish = only_finish(s.handle(TaskDone(0, 0, UNMET, 4)))  # round 2, with no retries left
    assert "in 2 rounds (declined by 1; unmet on 0)" in finish.message


def test_spin_ends_every_rest():
    s = make(engines=[0], hwm=1, round_delay=100)
    submit_all(s, [0, 1], retries=5)
    s.handle(TaskDone(0, 0, UNMET, 1))  # 0 rests; 1 goes to engine 0
    s.handle(TaskDone(1, 0, UNMET, 2))  # so does 1
    assert s.handle(Spin(3)) and sent(s.handle(Spin(3))) == []  # the first spin sent 0; 1 waits for the slot
    assert sent(s.handle(TaskDone(0, 0, SUCCESS, 4))) == [(1, 0)]
    assert s.handle(Spin(5)) == []


def test_declines_alone_never_end_a_round():
    s = make(engines=[0, 1], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0, has_depend=True), 0))
    s.handle(TaskDone(0, 0, DECLINED, 1))
    assert s.handle(TaskDone(0, 1, DECLINED, 2)) == []
    assert s.rounds(0) == 0 and s.handle(Tick(1000)) == [] and s.handle(Spin(1000)) == []
    assert sent(s.handle(PropertiesChanged(1))) == [(0, 1)]


def test_with_a_timeout_and_no_retries_the_task_waits_it_out():
    s = make(engines=[0], hwm=1, round_delay=1)
    s.handle(TaskSubmitted(TaskSpec(0, timeout=10), 0))
    assert s.handle(TaskDone(0, 0, UNMET, 1)) == []
    assert s.waiting_reason(0).endswith("no retries left: a new engine, a property change or spin() may still take it")
    assert s.handle(Tick(5)) == []  # no timer: only events or the timeout end this rest
    assert sent(s.handle(Spin(6))) == [(0, 0)]
    assert s.handle(TaskDone(0, 0, UNMET, 7)) == []
    finish = only_finish(s.handle(Tick(10)))
    assert finish.error == "DependencyTimeout" and "unmet on 0" in finish.message


def test_when_the_rounds_run_out_the_recovery_task_takes_over():
    s = make(engines=[0], hwm=1)
    recovery = TaskSpec(0)
    s.handle(TaskSubmitted(TaskSpec(0, recovery=recovery), 0))
    actions = s.handle(TaskDone(0, 0, UNMET, 1))
    assert [(a.taskid, a.eid, a.spec) for a in actions] == [(0, 0, recovery)]
    assert s.rounds(0) == 0  # a fresh spec, fresh rounds


def test_an_engine_dying_can_end_a_round():
    s = make(engines=[0, 1], hwm=1, round_delay=1)
    submit_all(s, [0, 1])  # 0 on engine 0, 1 on engine 1
    s.handle(TaskSubmitted(TaskSpec(2, retries=1), 0))
    s.handle(TaskDone(0, 0, SUCCESS, 1))  # 2 goes to engine 0...
    assert s.handle(TaskDone(2, 0, UNMET, 2)) == []  # ...which refuses it; engine 1 is busy
    assert s.waiting_reason(2) is None  # only engine 1, busy, may take it: no round has ended
    s.handle(EngineRemoved(1, 3, "gone", unstarted={1}))  # task 1 had not started
    assert s.rounds(2) == 1 and "goes round them again" in s.waiting_reason(2)


def test_a_new_engine_reusing_an_id_is_a_different_engine():
    s = make(engines=[0], hwm=1, round_delay=100)
    s.handle(TaskSubmitted(TaskSpec(0, retries=1), 0))
    s.handle(TaskDone(0, 0, UNMET, 1))
    s.handle(EngineRemoved(0, 2, "shut down"))
    assert sent(s.handle(EngineAdded(0))) == [(0, 0)]


def test_a_follow_task_goes_round_its_one_engine_and_fails_as_unmet():
    s = make(engines=[0, 1], hwm=1, round_delay=1)
    s.handle(TaskSubmitted(TaskSpec(0), 0))  # engine 0
    s.handle(TaskDone(0, 0, SUCCESS, 1))
    assert sent(s.handle(TaskSubmitted(TaskSpec(1, retries=1, follow=Dependency({0})), 1))) == [(1, 0)]
    assert s.handle(TaskDone(1, 0, UNMET, 2)) == []  # engine 1 never fits: the round is over
    assert sent(s.handle(Tick(3))) == [(1, 0)]
    assert ended(s.handle(TaskDone(1, 0, UNMET, 4))) == [(1, False, "UnmetDependency")]
    assert sent(s.handle(TaskSubmitted(TaskSpec(3, retries=5, follow=Dependency({0})), 6))) == [(3, 0)]
    s.handle(TaskDone(3, 0, UNMET, 7))
    finish = only_finish(s.handle(EngineRemoved(0, 8, "gone")))  # a place that can never be had again
    assert finish.error == "ImpossibleDependency" and "gone" in finish.message


def test_round_delay_must_be_a_duration():
    for bad in (-1, None, float("nan")):
        with pytest.raises(ValueError, match="round_delay"):
            Scheduler(round_delay=bad)
    with pytest.raises(KeyError):
        make().rounds(3)


def test_many_restricted_tasks_keep_their_order():
    s = make(engines=[0, 1], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0), 0))  # engine 0 ...
    s.handle(TaskSubmitted(TaskSpec(1), 0))  # ... and engine 1 stay busy for a while
    s.handle(TaskDone(0, 0, SUCCESS, 1))
    for tid in range(2, 202):  # engine 0 declines each of 200 tasks in turn
        assert sent(s.handle(TaskSubmitted(TaskSpec(tid, has_depend=True), 1))) == [(tid, 0)]
        assert s.handle(TaskDone(tid, 0, DECLINED, 1)) == []
    order = sent(s.handle(TaskDone(1, 1, SUCCESS, 2)))
    for _ in range(149):
        order += sent(s.handle(TaskDone(order[-1][0], 1, SUCCESS, 3)))
    # a late-comer, queued while most of the list is stale
    s.handle(TaskSubmitted(TaskSpec(202, has_depend=True), 3))
    s.handle(TaskDone(202, 0, DECLINED, 3))
    for _ in range(51):
        order += sent(s.handle(TaskDone(order[-1][0], 1, SUCCESS, 4)))
    assert order == [(tid, 1) for tid in range(2, 203)]


def test_waiting_restricted_tasks_get_engines_before_the_plain_backlog():
    s = make(engines=[0, 1], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0, has_depend=True), 0))  # engine 0
    s.handle(TaskSubmitted(TaskSpec(1), 0))  # engine 1
    s.handle(TaskDone(0, 0, DECLINED, 1))  # 0 waits for engine 1; engine 0 takes...
    submit_all(s, range(2, 6), now=1)  # ...task 2; 3, 4, 5 queue
    assert sent(s.handle(TaskDone(1, 1, SUCCESS, 2))) == [(0, 1)]


# ------------------------------------------------------------------- timeouts


def test_a_task_nobody_accepts_times_out():
    s = make(engines=[0], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0, has_depend=True, timeout=5), 0))
    s.handle(TaskDone(0, 0, DECLINED, 1))
    assert s.handle(Tick(4.9)) == []
    finish = only_finish(s.handle(Tick(5)))
    assert (finish.taskid, finish.error) == (0, "DependencyTimeout")
    assert "declined by 0" in finish.message and "5 s" in finish.message
    assert s.handle(Tick(100)) == []


def test_a_task_waiting_only_for_a_free_slot_does_not_time_out():
    s = make(engines=[0], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    s.handle(TaskSubmitted(TaskSpec(1, timeout=1), 0))
    assert s.handle(Tick(100)) == []
    assert sent(s.handle(TaskDone(0, 0, SUCCESS, 101))) == [(1, 0)]


def test_an_overdue_task_that_becomes_unrunnable_fails_at_the_next_tick():
    s = make(engines=[0], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    s.handle(TaskSubmitted(TaskSpec(1, has_depend=True, timeout=1), 0))
    assert s.handle(Tick(2)) == []  # only busy
    s.handle(TaskDone(0, 0, SUCCESS, 3))  # 1 goes to engine 0...
    assert s.handle(Tick(3.5)) == []  # (running: not waiting)
    s.handle(TaskDone(1, 0, DECLINED, 4))  # ...which declines it
    assert ended(s.handle(Tick(5))) == [(1, False, "DependencyTimeout")]


def test_a_task_times_out_without_engines():
    s = make()
    s.handle(TaskSubmitted(TaskSpec(0, timeout=2), 0))
    s.handle(TaskSubmitted(TaskSpec(1), 0))
    finish = only_finish(s.handle(Tick(2.5)))
    assert finish.error == "DependencyTimeout" and "waiting for an engine" in finish.message
    assert sent(s.handle(EngineAdded(0))) == [(1, 0)]


def test_a_task_waiting_for_others_times_out_and_names_them():
    s = make(engines=[0], hwm=1)
    submit_all(s, [0, 1])
    s.handle(TaskSubmitted(TaskSpec(2, after=Dependency({0, 1}), timeout=3), 0))
    finish = only_finish(s.handle(Tick(3)))
    assert finish.error == "DependencyTimeout"
    assert "waiting for tasks [0, 1]" in finish.message


def test_no_timeout_means_waiting_forever():
    s = make()
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    s.handle(TaskSubmitted(TaskSpec(1, timeout=0), 0))
    assert s.handle(Tick(1e9)) == []


def test_a_recovery_gets_a_fresh_timeout():
    s = make(engines=[0], hwm=1)
    spec = TaskSpec(0, has_depend=True, timeout=1, recovery=TaskSpec(0, has_depend=True, timeout=10))
    s.handle(TaskSubmitted(spec, 0))
    s.handle(TaskDone(0, 0, FAILURE, 5))  # the recovery starts at 5
    s.handle(TaskDone(0, 0, DECLINED, 6))
    assert s.handle(Tick(14)) == []
    assert ended(s.handle(Tick(15))) == [(0, False, "DependencyTimeout")]


# --------------------------------------------------------- graph dependencies


def test_after_all_success_waits_for_every_prerequisite():
    s = make(engines=[0, 1], hwm=1)
    submit_all(s, [0, 1])
    assert s.handle(TaskSubmitted(TaskSpec(2, after=Dependency({0, 1})), 0)) == []
    assert s.waiting_reason(2) == "waiting for tasks [0, 1]"
    assert sent(s.handle(TaskDone(0, 0, SUCCESS, 1))) == []
    assert s.waiting_reason(2) == "waiting for tasks [1]"
    assert sent(s.handle(TaskDone(1, 1, SUCCESS, 2))) == [(2, 1)]


def test_after_finished_prerequisites_runs_at_once():
    s = make(engines=[0], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    s.handle(TaskDone(0, 0, SUCCESS, 1))
    assert sent(s.handle(TaskSubmitted(TaskSpec(1, after=Dependency({0})), 2))) == [(1, 0)]


def test_after_all_success_is_impossible_once_one_fails():
    s = make(engines=[0, 1], hwm=1)
    submit_all(s, [0, 1])
    s.handle(TaskSubmitted(TaskSpec(2, after=Dependency({0, 1})), 0))
    assert ended(s.handle(TaskDone(0, 0, FAILURE, 1))) == [(0, False, None), (2, False, "ImpossibleDependency")]
    assert s.status() == {"scheduled": 0, "pending": 1, "succeeded": 0, "failed": 2}


def test_impossible_dependency_message_names_the_culprit():
    s = make(engines=[0], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    s.handle(TaskSubmitted(TaskSpec(1, after=Dependency({0})), 0))
    actions = s.handle(TaskDone(0, 0, FAILURE, 1))
    assert ended(actions) == [(0, False, None), (1, False, "ImpossibleDependency")]
    assert "task 0 failed" in actions[1].message


def test_after_any_runs_when_one_succeeds_and_is_impossible_when_all_fail():
    s = make(engines=[0, 1], hwm=1)
    submit_all(s, [0, 1])
    s.handle(TaskSubmitted(TaskSpec(2, after=Dependency({0, 1}, all=False)), 0))
    assert sent(s.handle(TaskDone(0, 0, FAILURE, 1))) == []
    assert sent(s.handle(TaskDone(1, 1, SUCCESS, 2))) == [(2, 1)]

    s = make(engines=[0, 1], hwm=1)
    submit_all(s, [0, 1])
    s.handle(TaskSubmitted(TaskSpec(2, after=Dependency({0, 1}, all=False)), 0))
    s.handle(TaskDone(0, 0, FAILURE, 1))
    assert ended(s.handle(TaskDone(1, 1, FAILURE, 2)))[-1] == (2, False, "ImpossibleDependency")


def test_after_failure_only_runs_a_cleanup_when_something_failed():
    s = make(engines=[0], hwm=2)
    submit_all(s, [0, 1])
    s.handle(TaskSubmitted(TaskSpec(2, after=Dependency({0}, success=False, failure=True)), 0))
    s.handle(TaskSubmitted(TaskSpec(3, after=Dependency({1}, success=False, failure=True)), 0))
    assert sent(s.handle(TaskDone(0, 0, FAILURE, 1))) == [(2, 0)]
    assert ended(s.handle(TaskDone(1, 0, SUCCESS, 2)))[-1] == (3, False, "ImpossibleDependency")


def test_after_success_or_failure_runs_either_way():
    s = make(engines=[0], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    s.handle(TaskSubmitted(TaskSpec(1, after=Dependency({0}, failure=True)), 0))
    assert sent(s.handle(TaskDone(0, 0, FAILURE, 1))) == [(1, 0)]


def test_a_dependency_counting_nothing_is_impossible():
    s = make(engines=[0])
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    finish = only_finish(s.handle(TaskSubmitted(TaskSpec(1, after=Dependency({0}, success=False)), 0)))
    assert finish.error == "ImpossibleDependency"


def test_unknown_prerequisites_fail_at_once_naming_them():
    s = make(engines=[0])
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    finish = only_finish(s.handle(TaskSubmitted(TaskSpec(1, after=Dependency({0, 8, 9})), 0)))
    assert finish.error == "ImpossibleDependency"
    assert "[8, 9]" in finish.message
    finish = only_finish(s.handle(TaskSubmitted(TaskSpec(2, follow=Dependency({5})), 0)))
    assert "[5]" in finish.message


def test_a_failure_cascades_down_a_long_chain_without_recursion():
    s = make(hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    for i in range(1, 5000):
        s.handle(TaskSubmitted(TaskSpec(i, after=Dependency({i - 1})), 0))
    actions = s.handle(AbortTask(0))
    assert [a.taskid for a in actions] == list(range(5000))
    assert s.status()["failed"] == 5000


def test_a_long_chain_runs_in_order():
    s = make(engines=[0, 1], hwm=2)
    actions = s.handle(TaskSubmitted(TaskSpec(0), 0))
    for i in range(1, 100):
        actions += s.handle(TaskSubmitted(TaskSpec(i, after=Dependency({i - 1})), 0))
    order = sent(actions)
    for _ in range(99):
        order += sent(s.handle(TaskDone(*order[-1], SUCCESS, 1)))
    assert [t for t, _ in order] == list(range(100))


def test_follow_runs_where_the_prerequisites_ran_and_waits_for_them():
    s = make(engines=[0, 1], hwm=2)
    submit_all(s, [0, 1])  # 0 on engine 0, 1 on engine 1
    s.handle(TaskSubmitted(TaskSpec(2, follow=Dependency({0})), 0))
    assert s.waiting_reason(2) == "waiting for tasks [0]"
    assert sent(s.handle(TaskDone(0, 0, SUCCESS, 1))) == [(2, 0)]


def test_follow_waits_for_a_slot_on_its_engine_rather_than_use_another():
    s = make(engines=[0, 1], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    s.handle(TaskDone(0, 0, SUCCESS, 1))
    assert sent(s.handle(TaskSubmitted(TaskSpec(1), 1))) == [(1, 0)]  # the last used
    assert sent(s.handle(TaskSubmitted(TaskSpec(2), 1))) == [(2, 1)]
    assert s.handle(TaskSubmitted(TaskSpec(3, follow=Dependency({0})), 1)) == []
    assert sent(s.handle(TaskDone(2, 1, SUCCESS, 2))) == []  # engine 1 is not where 0 ran
    assert sent(s.handle(TaskDone(1, 0, SUCCESS, 3))) == [(3, 0)]


def test_follow_all_on_different_engines_is_impossible():
    s = make(engines=[0, 1], hwm=1)
    submit_all(s, [0, 1])
    s.handle(TaskSubmitted(TaskSpec(2, follow=Dependency({0, 1})), 0))
    s.handle(TaskDone(0, 0, SUCCESS, 1))
    actions = s.handle(TaskDone(1, 1, SUCCESS, 2))
    assert ended(actions) == [(1, True, None), (2, False, "ImpossibleDependency")]
    assert "different engines (0, 1)" in actions[1].message


def test_follow_all_on_the_same_engine():
    s = make(engines=[0], hwm=2)
    submit_all(s, [0, 1])
    s.handle(EngineAdded(1))
    s.handle(TaskSubmitted(TaskSpec(2, follow=Dependency({0, 1})), 0))
    s.handle(TaskDone(0, 0, SUCCESS, 1))
    assert sent(s.handle(TaskDone(1, 0, SUCCESS, 2))) == [(2, 0)]


def test_follow_any_runs_on_one_of_the_engines():
    s = make(engines=[0, 1, 2], hwm=1)
    submit_all(s, [0, 1, 2])
    s.handle(TaskSubmitted(TaskSpec(3, follow=Dependency({0, 1}, all=False)), 0))
    s.handle(TaskDone(2, 2, SUCCESS, 1))  # engine 2 is free but did not run 0 or 1
    assert sent(s.handle(TaskDone(1, 1, SUCCESS, 2))) == [(3, 1)]


def test_follow_an_engine_that_is_gone_is_impossible():
    s = make(engines=[0, 1], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    s.handle(TaskDone(0, 0, SUCCESS, 1))
    s.handle(EngineRemoved(0, 2, "shut down"))
    finish = only_finish(s.handle(TaskSubmitted(TaskSpec(1, follow=Dependency({0})), 3)))
    assert finish.error == "ImpossibleDependency" and "engine 0, which is gone" in finish.message


def test_follow_fails_when_its_engine_dies_while_it_waits():
    s = make(engines=[0], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    s.handle(TaskDone(0, 0, SUCCESS, 1))
    s.handle(TaskSubmitted(TaskSpec(1), 1))  # occupies engine 0
    s.handle(TaskSubmitted(TaskSpec(2, follow=Dependency({0})), 1))
    actions = s.handle(EngineRemoved(0, 2, "killed"))
    assert ended(actions) == [(1, False, "EngineDied"), (2, False, "ImpossibleDependency")]


def test_follow_does_not_go_to_a_new_engine_with_the_same_id():
    s = make(engines=[0], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    s.handle(TaskDone(0, 0, SUCCESS, 1))
    s.handle(EngineRemoved(0, 2, "restart"))
    s.handle(EngineAdded(0))
    assert ended(s.handle(TaskSubmitted(TaskSpec(1, follow=Dependency({0})), 4))) == [(1, False, "ImpossibleDependency")]


def test_a_failing_follow_task_retries_on_the_same_engine():
    s = make(engines=[0, 1], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    s.handle(TaskDone(0, 0, SUCCESS, 1))
    s.handle(TaskSubmitted(TaskSpec(1, retries=1, follow=Dependency({0})), 1))
    assert sent(s.handle(TaskDone(1, 0, FAILURE, 2))) == [(1, 0)]


def test_follow_and_after_together():
    s = make(engines=[0, 1], hwm=1)
    submit_all(s, [0, 1])
    s.handle(TaskSubmitted(TaskSpec(2, after=Dependency({1}), follow=Dependency({0})), 0))
    s.handle(TaskDone(0, 0, SUCCESS, 1))
    assert s.waiting_reason(2) == "waiting for tasks [1]"
    assert sent(s.handle(TaskDone(1, 1, SUCCESS, 2))) == [(2, 0)]


# ---------------------------------------------------------------------- abort


def test_abort_a_scheduled_task():
    s = make()
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    finish = only_finish(s.handle(AbortTask(0)))
    assert (finish.taskid, finish.succeeded, finish.error) == (0, False, "TaskAborted")
    assert s.handle(EngineAdded(0)) == []
    assert s.state(0) == "failed"
    with pytest.raises(IndexError, match="Task Already Completed"):
        s.handle(AbortTask(0))


def test_abort_a_running_task_keeps_its_slot_until_the_engine_reports():
    s = make(engines=[0], hwm=1)
    submit_all(s, [0, 1])
    assert ended(s.handle(AbortTask(0))) == [(0, False, "TaskAborted")]
    assert s.engine_load(0) == 1
    assert s.status() == {"scheduled": 1, "pending": 0, "succeeded": 0, "failed": 1}
    with pytest.raises(IndexError, match="Task Already Aborted"):
        s.handle(AbortTask(0))
    actions = s.handle(TaskDone(0, 0, SUCCESS, 3))  # the result is thrown away
    assert ended(actions) == [] and sent(actions) == [(1, 0)]
    assert s.state(0) == "failed"
    with pytest.raises(IndexError, match="Task Already Completed"):
        s.handle(AbortTask(0))


def test_abort_a_running_task_whose_engine_then_dies():
    s = make(engines=[0], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0, retries=3), 0))
    s.handle(AbortTask(0))
    assert s.handle(EngineRemoved(0, 2, "killed")) == []


def test_abort_a_task_waiting_for_others_fails_its_dependents():
    s = make(engines=[0], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    s.handle(TaskSubmitted(TaskSpec(1, after=Dependency({0})), 0))
    s.handle(TaskSubmitted(TaskSpec(2, after=Dependency({1})), 0))
    assert ended(s.handle(AbortTask(1))) == [(1, False, "TaskAborted"), (2, False, "ImpossibleDependency")]


def test_abort_errors():
    s = make()
    with pytest.raises(IndexError, match="No task #99"):
        s.handle(AbortTask(99))
    with pytest.raises(TypeError, match="'x'"):
        s.handle(AbortTask("x"))
    with pytest.raises(TypeError):
        s.handle(AbortTask(True))


def test_abort_a_succeeded_task():
    s = make(engines=[0])
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    s.handle(TaskDone(0, 0, SUCCESS, 1))
    with pytest.raises(IndexError, match="Task Already Completed"):
        s.handle(AbortTask(0))


# -------------------------------------------------------------- engine death


def test_an_engine_death_fails_its_tasks_without_retries():
    s = make(engines=[3], hwm=0)
    submit_all(s, range(8))
    actions = s.handle(EngineRemoved(3, 1, "exit status -9"))
    assert [f.error for f in actions] == ["EngineDied"] * 8
    assert actions[7].message == "engine 3 died while running task 7: exit status -9"


def test_an_engine_death_requeues_tasks_with_retries_elsewhere():
    s = make(engines=[0, 1], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0, retries=1), 0))
    s.handle(TaskSubmitted(TaskSpec(1), 0))
    s.handle(TaskDone(1, 1, SUCCESS, 1))
    assert sent(s.handle(EngineRemoved(0, 2, "lost"))) == [(0, 1)]
    assert ended(s.handle(EngineRemoved(1, 3, "lost"))) == [(0, False, "EngineDied")]


def test_tasks_sent_but_not_started_go_back_without_blame():
    s = make(engines=[0], hwm=3)
    submit_all(s, range(3))  # 0 runs; 1 and 2 wait on the engine behind it
    assert ended(s.handle(EngineRemoved(0, 1, "lost", unstarted={1, 2}))) == [(0, False, "EngineDied")]
    assert sent(s.handle(EngineAdded(1))) == [(1, 1), (2, 1)]
    assert s.status() == {"scheduled": 0, "pending": 2, "succeeded": 0, "failed": 1}


def test_a_task_that_kills_engines_is_poison():
    s = make(hwm=1, poison_after=3)
    s.handle(TaskSubmitted(TaskSpec(7, retries=99), 0))
    for eid in range(3):
        s.handle(EngineAdded(eid))
        actions = s.handle(EngineRemoved(eid, eid + 0.5, "segfault"))
    finish = only_finish(actions)
    assert finish.error == "PoisonTask"
    assert "killed 3 engines (0, 1, 2)" in finish.message and "not retried" in finish.message
    assert "check the task" in finish.message


def test_poison_detection_can_be_turned_off():
    s = make(hwm=1, poison_after=None)
    s.handle(TaskSubmitted(TaskSpec(0, retries=5), 0))
    for eid in range(5):
        s.handle(EngineAdded(eid))
        assert ended(s.handle(EngineRemoved(eid, 0, "boom"))) == []
    s.handle(EngineAdded(9))
    s.handle(TaskDone(0, 9, SUCCESS, 1))
    assert s.state(0) == "succeeded"


def test_engine_death_runs_the_recovery_once_retries_are_exhausted():
    recovery = TaskSpec(0)
    s = make(engines=[0, 1], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0, recovery=recovery), 0))
    (d,) = s.handle(EngineRemoved(0, 1, "lost"))
    assert d.spec is recovery and d.eid == 1


def test_removing_an_unknown_engine_is_ignored_and_late_reports_too():
    s = make(engines=[0, 1], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0, retries=1), 0))
    assert s.handle(EngineRemoved(5, 0, "?")) == []
    s.handle(EngineRemoved(0, 1, "lost"))
    assert s.handle(TaskDone(0, 0, SUCCESS, 2)) == []  # engine 0 was given up on
    assert s.state(0) == "pending"
    assert ended(s.handle(TaskDone(0, 1, SUCCESS, 3))) == [(0, True, None)]


def test_adding_an_engine_twice_is_an_error():
    s = make(engines=[0])
    with pytest.raises(ValueError, match="engine 0"):
        s.handle(EngineAdded(0))


# --------------------------------------------------------- queries, validation


def test_status_counts_and_verbose_lists():
    s = make(engines=[0], hwm=1)
    submit_all(s, range(5))
    s.handle(TaskDone(0, 0, SUCCESS, 1))
    s.handle(TaskDone(1, 0, FAILURE, 2))
    s.handle(AbortTask(4))
    assert s.status() == {"scheduled": 1, "pending": 1, "succeeded": 1, "failed": 2}
    assert s.status(verbose=True) == {"scheduled": [3], "pending": [2], "succeeded": [0], "failed": [1, 4]}


def test_state_of_every_kind_of_task():
    s = make(engines=[0], hwm=1)
    submit_all(s, range(4))
    s.handle(TaskDone(0, 0, SUCCESS, 1))
    s.handle(TaskDone(1, 0, FAILURE, 1))
    assert [s.state(i) for i in range(4)] == ["succeeded", "failed", "pending", "scheduled"]
    with pytest.raises(KeyError):
        s.state(4)


def test_waiting_reason_of_every_kind_of_task():
    s = make(hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    assert s.waiting_reason(0) == "waiting for an engine"
    s.handle(EngineAdded(0))
    assert s.waiting_reason(0) is None  # running
    s.handle(TaskSubmitted(TaskSpec(1), 1))
    assert s.state(1) == "scheduled" and s.waiting_reason(1) is None  # only for a free slot
    s.handle(TaskDone(0, 0, SUCCESS, 2))
    assert s.waiting_reason(0) is None  # finished
    with pytest.raises(KeyError):
        s.waiting_reason(42)


def test_engine_load_of_an_unknown_engine():
    with pytest.raises(KeyError):
        make().engine_load(0)


def test_submit_validation():
    s = make()
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    with pytest.raises(ValueError, match="already submitted"):
        s.handle(TaskSubmitted(TaskSpec(0), 0))
    with pytest.raises(TypeError):
        s.handle(TaskSubmitted(TaskSpec("1"), 0))
    with pytest.raises(ValueError, match="retries"):
        s.handle(TaskSubmitted(TaskSpec(1, retries=-1), 0))
    with pytest.raises(ValueError, match="timeout"):
        s.handle(TaskSubmitted(TaskSpec(1, timeout=-1), 0))


def test_task_done_validation():
    s = make(engines=[0, 1], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    with pytest.raises(ValueError, match="'crashed'"):
        s.handle(TaskDone(0, 0, "crashed", 1))
    with pytest.raises(KeyError):
        s.handle(TaskDone(5, 0, SUCCESS, 1))
    assert s.handle(TaskDone(0, 1, SUCCESS, 1)) == []  # not running there: stale news
    assert s.state(0) == "pending"


def test_properties_changed_of_an_unknown_engine():
    with pytest.raises(KeyError):
        make().handle(PropertiesChanged(3))


def test_the_dependency_ids_become_a_frozenset():
    assert Dependency([1, 2, 2]).ids == frozenset({1, 2})


def test_the_scheduler_takes_only_events():
    with pytest.raises(TypeError, match="events"):
        make().handle(("add_engine", 0))


def test_history_keeps_the_last_events_and_replays_to_the_same_actions():
    events = [EngineAdded(0), EngineAdded(1), TaskSubmitted(TaskSpec(0, has_depend=True), 0),
              TaskSubmitted(TaskSpec(1, follow=Dependency([0])), 0)]
    s = make("twobin", seed=5, history=3)
    actions = [s.handle(e) for e in events]
    eid = sent(actions[2])[0][1]
    actions.append(s.handle(TaskDone(0, eid, DECLINED, 1)))
    actions.append(s.handle(TaskDone(0, 1 - eid, SUCCESS, 2)))
    assert list(s.history) == [events[-1], TaskDone(0, eid, DECLINED, 1), TaskDone(0, 1 - eid, SUCCESS, 2)]
    again = make("twobin", seed=5)
    assert [again.handle(e) for e in events + list(s.history)[1:]] == actions
    assert list(again.history) == events + list(s.history)[1:]


def test_validate_state_names_what_is_broken():
    s = make(engines=[0, 1], hwm=1)
    submit_all(s, range(4))
    s.handle(TaskDone(0, 0, DECLINED, 1))
    s.validate_state()
    s._n_pending += 1
    with pytest.raises(InvalidState, match="3 tasks counted pending, 2 running"):
        s.validate_state()
    s._n_pending -= 1
    s._engines[1].running.add(3)  # task 3 waits, yet engine 1 holds it
    with pytest.raises(InvalidState, match=r"engine 1 holds task 3.*TaskDone\(taskid=0"):
        s.validate_state()


def test_a_restricted_task_waits_only_where_it_may_go():
    """A task that follows engine 0 waits in that engine's lane: engine 1 never looks at it."""
    s = make("lru", engines=[0, 1], hwm=1)
    s.handle(TaskSubmitted(TaskSpec(0), 0))
    s.handle(TaskDone(0, 0, SUCCESS, 1))
    assert sent(submit_all(s, [1, 2], now=1)) == [(1, 1), (2, 0)]  # both engines busy
    assert sent(s.handle(TaskSubmitted(TaskSpec(3, follow=Dependency([0])), 1))) == []
    lanes, e0, e1 = s._restricted, s._engines[0], s._engines[1]
    assert [t.taskid for t in lanes.on[e0.serial].current()] == [3] and e1.serial not in lanes.on
    assert list(lanes.after(e1)) == []
    assert sent(s.handle(TaskDone(1, 1, SUCCESS, 2))) == []  # engine 1 frees a slot: not for task 3
    assert sent(s.handle(TaskDone(2, 0, SUCCESS, 2))) == [(3, 0)]
    s.validate_state()


# ------------------------------------------------------ random event sequences


class SchedulerMachine(RuleBasedStateMachine):
    """Random events; checks hwm, that nothing is lost, and that refusals are honoured:
    a decline until the engine's properties change, an UnmetDependency until a round
    has ended, in an earlier event (a rest, not a busy loop), each round paid for by a
    retry unless the task waits out a timeout."""

    @initialize(scheme=st.sampled_from(SCHEMES), hwm=st.integers(0, 3), seed=st.integers(0, 2**32),
                round_delay=st.sampled_from([0, 1, 5]), engines=st.integers(0, 3))
    def setup(self, scheme, hwm, seed, round_delay, engines):
        self.s = Scheduler(scheme, hwm=hwm, poison_after=2, rng=random.Random(seed), round_delay=round_delay)
        self.hwm = hwm
        self.now = 0.0
        self.live = {}  # eid -> incarnation
        self.incarnations = 0
        self.running = {}  # taskid -> eid, until the engine reports (aborted ones too)
        self.finished = {}  # taskid -> Finish
        self.submitted = []
        self.refused = {}  # (taskid, incarnation, spec id) -> (outcome, rounds when refused)
        self.spec_of = {}
        for eid in range(engines):
            self.new_engine(eid)

    def rounds(self):
        return {t: self.s.rounds(t) for t in self.submitted if t not in self.finished}

    def apply(self, actions, before):
        """Check an event's actions; ``before`` is ``rounds()`` from before the event."""
        for a in actions:
            if isinstance(a, Dispatch):
                assert a.eid in self.live
                assert a.taskid not in self.finished
                assert a.taskid not in self.running
                why, when = self.refused.get((a.taskid, self.live[a.eid], id(a.spec)), (None, None))
                assert why is not DECLINED, "offered again where it was declined"
                assert why is None or before[a.taskid] > when, "offered again in the same round"
                assert a.spec.timeout or self.s.rounds(a.taskid) <= a.spec.retries, "a round not paid for"
                self.running[a.taskid] = a.eid
                self.spec_of[a.taskid] = a.spec
            else:
                assert a.taskid not in self.finished, f"second Finish for {a.taskid}"
                assert a.error != "UnmetDependency" or not self.spec_of[a.taskid].timeout
                self.finished[a.taskid] = a

    def event(self, event):
        """Handle ``event``, check its actions and then every invariant of the scheduler's books."""
        before = self.rounds()
        self.apply(self.s.handle(event), before)
        self.s.validate_state()

    @precondition(lambda self: len(self.live) < 5)
    @rule(data=st.data())
    def add_engine(self, data):
        self.new_engine(data.draw(st.sampled_from(sorted(set(range(5)) - self.live.keys()))))

    def new_engine(self, eid):
        self.incarnations += 1
        self.live[eid] = self.incarnations
        self.event(EngineAdded(eid))

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def remove_engine(self, data):
        eid = data.draw(st.sampled_from(sorted(self.live)))
        del self.live[eid]
        self.running = {t: e for t, e in self.running.items() if e != eid}
        self.event(EngineRemoved(eid, self.now, "test"))

    @rule(data=st.data())
    def submit(self, data):
        taskid = len(self.submitted)
        known = st.sampled_from(self.submitted + [10_000]) if self.submitted else st.just(10_000)

        def dependency():
            return st.none() | st.builds(
                Dependency, st.frozensets(known, min_size=1, max_size=3),
                st.booleans(), st.booleans(), st.booleans())

        def spec(depth):
            return st.builds(
                TaskSpec, st.just(taskid), retries=st.integers(0, 2), has_depend=st.booleans(),
                after=dependency(), follow=dependency(), timeout=st.none() | st.floats(1, 20),
                recovery=spec(depth - 1) if depth else st.none())

        spec_ = data.draw(spec(2))
        self.event(TaskSubmitted(spec_, self.now))
        self.submitted.append(taskid)

    @precondition(lambda self: self.running)
    @rule(data=st.data(), outcome=st.sampled_from(Outcome))
    def task_done(self, data, outcome):
        self.task_done_on(data.draw(st.sampled_from(sorted(self.running))), outcome)

    def task_done_on(self, taskid, outcome):
        eid = self.running.pop(taskid)
        if outcome in (DECLINED, UNMET) and taskid not in self.finished:
            self.refused[taskid, self.live[eid], id(self.spec_of[taskid])] = (outcome, self.s.rounds(taskid))
        self.event(TaskDone(taskid, eid, outcome, self.now))

    @precondition(lambda self: self.running)
    @rule(data=st.data())
    def refused_wherever_it_goes(self, data):
        """One task raises UnmetDependency on every engine it is sent to, so rounds end."""
        taskid = data.draw(st.sampled_from(sorted(self.running)))
        for _ in range(6):
            if taskid in self.running:
                self.task_done_on(taskid, UNMET)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def properties_changed(self, data):
        eid = data.draw(st.sampled_from(sorted(self.live)))
        self.forget_declines(eid)
        self.event(PropertiesChanged(eid))

    def forget_declines(self, eid):
        inc = self.live[eid]
        self.refused = {r: why for r, why in self.refused.items() if r[1] != inc or why[0] is UNMET}

    @rule()
    def spin(self):
        self.event(Spin(self.now))

    @precondition(lambda self: self.submitted)
    @rule(data=st.data())
    def abort(self, data):
        taskid = data.draw(st.sampled_from(self.submitted))
        if taskid in self.finished:
            with pytest.raises(IndexError):
                self.s.handle(AbortTask(taskid))
        else:
            self.event(AbortTask(taskid))

    @rule(dt=st.floats(0, 10))
    def tick(self, dt):
        self.now += dt
        self.event(Tick(self.now))

    @invariant()
    def never_above_hwm_and_books_balance(self):
        if not hasattr(self, "s"):
            return
        for eid in self.live:
            load = self.s.engine_load(eid)
            assert load == sum(1 for e in self.running.values() if e == eid)
            assert not self.hwm or load <= self.hwm
        status = self.s.status()
        assert sum(status.values()) == len(self.submitted)
        assert status["succeeded"] + status["failed"] == len(self.finished)

    def teardown(self):
        if not hasattr(self, "s"):
            return
        # Engines that accept everything: every task must end exactly once.
        for round_ in range(60):
            if len(self.finished) == len(self.submitted) and not self.running:
                break
            eid = 100 + round_
            self.incarnations += 1
            self.live[eid] = self.incarnations
            self.event(EngineAdded(eid))
            for e in sorted(self.live):
                self.forget_declines(e)
                self.event(PropertiesChanged(e))
            for taskid, e in sorted(self.running.items()):
                del self.running[taskid]
                self.event(TaskDone(taskid, e, SUCCESS, self.now))
        assert sorted(self.finished) == self.submitted
        assert not self.running
        assert self.s.status()["scheduled"] == self.s.status()["pending"] == 0


SchedulerMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_random_event_sequences = SchedulerMachine.TestCase
