"""Conditions are versioned: a change is a new version, old ones never change, and the
current one for a run is the newest version whose validity covers it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from p3s.conditions import services
from p3s.conditions.models import Condition

pytestmark = pytest.mark.django_db

BAD = {"channels": [{"apa": 1, "channel": 7, "status": "dead", "note": "open wire"}]}
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_a_new_version_gets_the_next_number_of_its_name_and_keeps_the_old_one():
    v1 = services.current_condition("bad-channels")
    assert v1.version == 1 and v1.data["channels"] == []
    v2 = services.new_version("bad-channels", BAD, owner="eddie", comment="APA 1 wire 7")
    assert v2.version == 2 and v2.owner == "eddie"
    assert services.current_condition("bad-channels") == v2
    v1.refresh_from_db()
    assert v1.data["channels"] == [] and v1.version == 1


def test_a_stored_version_refuses_to_be_saved_again():
    v1 = services.current_condition("bands")
    v1.comment = "changed in place"
    with pytest.raises(ValidationError, match="never changes"):
        v1.save()
    assert Condition.objects.get(pk=v1.pk).comment != "changed in place"


def test_the_current_version_for_a_run_is_the_newest_whose_run_range_covers_it():
    services.new_version("bad-channels", BAD, valid_from_run=100, valid_to_run=199)
    later = services.new_version("bad-channels", {"channels": []}, valid_from_run=200)
    assert services.current_condition("bad-channels", run=50).version == 1
    assert services.current_condition("bad-channels", run=150).version == 2
    assert services.current_condition("bad-channels", run=199).version == 2
    assert services.current_condition("bad-channels", run=250) == later
    # Without a run: the newest version valid now.
    assert services.current_condition("bad-channels") == later


def test_time_validity_is_checked_against_the_data_time():
    services.new_version("bad-channels", BAD, valid_from=T0, valid_to=T0 + timedelta(days=10))
    assert services.current_condition("bad-channels", at=T0 - timedelta(hours=1)).version == 1
    assert services.current_condition("bad-channels", at=T0 + timedelta(days=1)).version == 2
    assert services.current_condition("bad-channels", at=T0 + timedelta(days=10)).version == 1


def test_a_name_with_no_valid_version_has_no_current_condition():
    services.new_version("hv-map", {"kv": 180}, valid_from_run=10)
    assert services.current_condition("hv-map", run=9) is None
    assert services.current_condition("hv-map", run=10).data == {"kv": 180}
    assert services.current_condition("no-such-thing") is None


def test_current_versions_names_every_condition_for_a_run_in_one_query(django_assert_num_queries):
    services.new_version("bad-channels", BAD, valid_from_run=100)
    with django_assert_num_queries(1):
        versions = services.current_versions(run=120)
    assert versions == {"bad-channels": 2, "bands": 1, "channel-map": 1}
    assert services.current_versions(run=5)["bad-channels"] == 1


def test_an_inverted_validity_is_refused():
    with pytest.raises(ValidationError, match="before the first run"):
        services.new_version("bad-channels", BAD, valid_from_run=20, valid_to_run=10)
    with pytest.raises(ValidationError, match="after its start"):
        services.new_version("bad-channels", BAD, valid_from=T0, valid_to=T0)
    assert Condition.objects.filter(name="bad-channels").count() == 1
