"""Reading demand out of the server's GET /api/v1/summary/ answer."""

import pytest

from factory.demand import Demand
from factory.errors import ServerError
from factory.server import demand_from_summary

# The shape the server implements (issue brief).
SUMMARY = {
    "jobs": {
        "by_state": {"waiting": 12, "dispatched": 1, "running": 3},
        "by_queue": {"default": {"waiting": 12, "dispatched": 1, "running": 3}},
    },
    "claimable": {"default": 12},
    "top_priority": {"default": 40},
    "pilots": {
        "by_state": {"idle": 1, "busy": 4, "lost": 0, "exited": 7},
        "by_queue": {"default": {"idle": 1, "busy": 4}},
    },
    "latency": {},
}


def test_summary_gives_per_queue_demand():
    assert demand_from_summary(SUMMARY) == {
        "default": Demand(claimable=12, top_priority=40, idle=1, busy=4)
    }


def test_queue_with_pilots_but_no_jobs_is_listed():
    summary = {"claimable": {}, "pilots": {"by_queue": {"spare": {"idle": 2}}}}
    assert demand_from_summary(summary) == {"spare": Demand(idle=2)}


def test_waiting_count_is_the_fallback_when_claimable_is_missing():
    summary = {"jobs": {"by_queue": {"default": {"waiting": 5}}}}
    assert demand_from_summary(summary)["default"].claimable == 5


def test_empty_summary_means_no_demand():
    assert demand_from_summary({}) == {}


def test_garbage_numbers_are_refused_with_the_field_name():
    with pytest.raises(ServerError, match="claimable.default"):
        demand_from_summary({"claimable": {"default": "lots"}})
