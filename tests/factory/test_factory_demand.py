"""The pilot arithmetic on its own: demand, supply, target, cap, queue limit, hot pilots."""

import pytest

from factory.demand import Demand, Limits, Supply, hottest_queue, plan_pilots

NO_DEMAND, NO_SUPPLY = Demand(), Supply()


def plan_one(demand=NO_DEMAND, supply=NO_SUPPLY, **limits):
    limits.setdefault("target", 100)
    return plan_pilots(
        ["default"], {"default": demand}, {"default": supply}, Limits(**limits)
    ).for_queue("default")


def test_no_demand_submits_nothing():
    p = plan_one()
    assert (p.want, p.supply, p.deficit, p.submit, p.trim) == (0, 0, 0, 0, 0)


def test_claimable_jobs_without_pilots_get_one_pilot_each():
    p = plan_one(Demand(claimable=7, top_priority=10))
    assert (p.want, p.supply, p.submit) == (7, 0, 7)


def test_idle_registered_pilots_and_queued_pilots_count_as_supply():
    p = plan_one(Demand(claimable=12, idle=1, busy=4), Supply(queued=3, running=5))
    # running 5 in batch, 5 registered (1 idle + 4 busy): none is starting.
    assert (p.starting, p.supply, p.deficit, p.submit) == (0, 4, 8, 8)


def test_pilots_running_in_batch_but_not_yet_registered_count_as_starting():
    p = plan_one(Demand(claimable=5, idle=0, busy=1), Supply(queued=0, running=3))
    assert p.starting == 2
    assert (p.supply, p.submit) == (2, 3)


def test_over_supply_submits_nothing_and_says_so():
    p = plan_one(Demand(claimable=2, idle=3), Supply(queued=4))
    assert (p.deficit, p.submit, p.trim) == (0, 0, 0)
    assert any("over-supplied by 5" in r for r in p.reasons)


def test_target_bounds_pilots_alive_in_batch():
    p = plan_one(Demand(claimable=50), Supply(queued=2, running=6), target=10)
    # want 50, supply 2 queued + 6 starting; alive 8, so 2 more at most.
    assert p.submit == 2
    assert any("target 10" in r for r in p.reasons)


def test_target_zero_submits_nothing():
    assert plan_one(Demand(claimable=5), target=0).submit == 0


def test_lowered_target_trims_queued_pilots_but_never_running_ones():
    p = plan_one(Demand(claimable=0), Supply(queued=3, running=5), target=4)
    assert p.trim == 3  # 8 alive, 4 allowed: the 3 queued go, the running 5 stay
    assert p.submit == 0
    p = plan_one(Demand(claimable=0), Supply(queued=3, running=2), target=4)
    assert p.trim == 1


def test_cycle_cap_limits_submissions():
    p = plan_one(Demand(claimable=30), cap=5)
    assert p.submit == 5
    assert any("cycle cap 5" in r for r in p.reasons)


def test_queue_limit_counts_pilots_already_waiting_in_batch():
    p = plan_one(Demand(claimable=30), Supply(queued=6), queue_limit=8)
    assert p.submit == 2
    p = plan_one(Demand(claimable=30), Supply(queued=9), queue_limit=8)
    assert p.submit == 0


def test_hot_pilots_are_kept_even_without_demand():
    p = plan_one(Demand(), hot=2)
    assert (p.hot, p.want, p.submit) == (2, 2, 2)
    p = plan_one(Demand(idle=2), hot=2)
    assert p.submit == 0


def test_hot_pilots_add_to_claimable_jobs():
    p = plan_one(Demand(claimable=3, top_priority=5, idle=1), hot=2)
    assert (p.want, p.supply, p.submit) == (5, 1, 4)


def test_hot_pilots_go_to_the_queue_with_the_highest_priority_work():
    demand = {
        "low": Demand(claimable=4, top_priority=10),
        "high": Demand(claimable=1, top_priority=40),
    }
    plan = plan_pilots(["low", "high"], demand, {}, Limits(target=100, hot=3))
    assert plan.for_queue("high").hot == 3
    assert plan.for_queue("low").hot == 0
    assert (plan.for_queue("high").submit, plan.for_queue("low").submit) == (4, 4)


def test_hot_queue_is_the_first_served_queue_when_nothing_waits():
    assert hottest_queue(["a", "b"], {}) == "a"
    assert hottest_queue(["a", "b"], {"b": Demand(claimable=1, top_priority=1)}) == "b"
    assert hottest_queue([], {}) is None


def test_several_queues_share_the_cap_hottest_first():
    demand = {
        "default": Demand(claimable=10, top_priority=10),
        "urgent": Demand(claimable=4, top_priority=90),
        "bulk": Demand(claimable=10, top_priority=1),
    }
    plan = plan_pilots(["default", "urgent", "bulk"], demand, {}, Limits(target=100, cap=9))
    assert [q.queue for q in plan.queues] == ["urgent", "default", "bulk"]
    assert [q.submit for q in plan.queues] == [4, 5, 0]
    assert plan.submit == 9


def test_several_queues_share_the_queue_limit():
    demand = {"a": Demand(claimable=5, top_priority=2), "b": Demand(claimable=5, top_priority=1)}
    supply = {"a": Supply(queued=1), "b": Supply(queued=1)}
    plan = plan_pilots(["a", "b"], demand, supply, Limits(target=100, queue_limit=6))
    # 2 queued already, room for 4: a takes 4, b gets none.
    assert (plan.for_queue("a").submit, plan.for_queue("b").submit) == (4, 0)


def test_target_applies_per_queue():
    demand = {"a": Demand(claimable=5), "b": Demand(claimable=5)}
    plan = plan_pilots(["a", "b"], demand, {}, Limits(target=3))
    assert (plan.for_queue("a").submit, plan.for_queue("b").submit) == (3, 3)


def test_queues_unknown_to_the_server_count_as_empty():
    plan = plan_pilots(["new"], {}, {}, Limits(target=5))
    assert plan.for_queue("new").submit == 0


def test_negative_limits_are_refused():
    with pytest.raises(ValueError, match="cap must be >= 0"):
        Limits(target=1, cap=-1)
