"""Reference sets: a snapshot of chosen good runs' histograms and metrics, combined per
detector element, kept when the products go, superseded (not lost) by a newer one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from p3s.conditions import references
from p3s.conditions.models import ReferenceSet
from p3s.dqm.models import Product
from p3s.quality.verdict import sign_off

from .conditions_world import World

pytestmark = pytest.mark.django_db

U1 = {"apa": "1", "plane": "u"}
X1 = {"apa": "1", "plane": "x"}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "products")


@pytest.fixture
def world(db):
    w = World()
    # Run 100: two files; run 101 one file; run 200 is a bad run nobody should pick.
    for counts, rms in (([1, 2, 3, 4], 4.0), ([3, 2, 1, 0], 4.4)):
        w.run_file(
            100,
            hists=[("adc_rms", U1, counts), ("adc_rms_per_channel", U1, [4.0, rms, 4.0, 4.0])],
            metrics=[
                {"name": "adc_rms_mean", "value": rms, "labels": {**U1, "run": "100"}},
                {"name": "adc_rms_mean", "value": 3.5, "labels": {**X1, "run": "100"}},
            ],
        )
    w.run_file(101, hists=[("adc_rms", U1, [10, 0, 0, 0])])
    w.run_file(200, hists=[("adc_rms", U1, [0, 0, 0, 99])])
    return w


def test_a_reference_sums_histogram_counts_over_its_runs_and_averages_profiles(world):
    ref = references.make_reference("tpc-dqm", "tpc", runs=[100], owner="eddie")
    assert ref.name == "run 100" and ref.source_runs == [100] and ref.owner == "eddie"
    hist = ref.hist_for("adc_rms", {**U1, "run": "999", "hist": "adc_rms"})
    assert hist["counts"] == [4.0, 4.0, 4.0, 4.0] and hist["edges"] == [0, 5, 10, 15, 20]
    assert hist["format"] == "p3s-hist-1" and hist["profile"] is False
    profile = ref.hist_for("adc_rms_per_channel", U1)
    assert profile["counts"] == pytest.approx([4.0, 4.2, 4.0, 4.0])
    assert ref.hist_for("adc_rms", X1) is None
    assert ref.hist_for("fft_spectrum", U1) is None


def test_a_reference_keeps_each_metrics_mean_std_and_count_per_element(world):
    ref = references.make_reference("tpc-dqm", "tpc", runs=[100])
    assert ref.metric_for("adc_rms_mean", {**U1, "run": "5", "job": "9"}) == pytest.approx(4.2)
    row = ref.metric_row("adc_rms_mean", U1)
    assert row.std == pytest.approx(0.2) and row.n == 2
    assert ref.metric_for("adc_rms_mean", X1) == pytest.approx(3.5)
    assert ref.metric_for("adc_rms_mean", {"apa": "2", "plane": "u"}) is None


def test_each_lookup_reads_one_row_once_or_none_after_a_preload(world, django_assert_num_queries):
    made = references.make_reference("tpc-dqm", "tpc", runs=[100, 101])
    ref = ReferenceSet.objects.get(pk=made.pk)
    with django_assert_num_queries(3):
        for _ in range(3):
            ref.hist_for("adc_rms", U1)
            ref.hist_for("fft_spectrum", U1)  # absent: remembered as absent
            ref.metric_for("adc_rms_mean", U1)
    ref = ReferenceSet.objects.get(pk=made.pk).preload()
    with django_assert_num_queries(0):
        assert ref.hist_for("adc_rms", U1)["counts"] == [14, 4, 4, 4]
        assert ref.hist_for("fft_spectrum", U1) is None
        assert ref.metric_for("adc_rms_mean", X1) == pytest.approx(3.5)


def test_chosen_dag_runs_make_a_reference_of_just_those(world):
    first = world.dagruns[0]
    ref = references.make_reference("tpc-dqm", "tpc", dagruns=[first.pk])
    assert ref.source_dagruns == [first.pk] and ref.source_runs == [100]
    assert ref.hist_for("adc_rms", U1)["counts"] == [1, 2, 3, 4]


def test_the_reference_survives_the_deletion_of_its_source_products(world):
    ref = references.make_reference("tpc-dqm", "tpc", runs=[100, 101])
    for product in Product.objects.all():
        product.file.delete(save=False)
    Product.objects.all().delete()
    ref = ReferenceSet.objects.get(pk=ref.pk)
    assert ref.hist_for("adc_rms", U1)["counts"] == [14.0, 4.0, 4.0, 4.0]


def test_a_newer_reference_supersedes_the_active_one_and_history_stays(world):
    old = references.make_reference("tpc-dqm", "tpc", runs=[100])
    new = references.make_reference("tpc-dqm", "tpc", runs=[101])
    assert references.current_reference("tpc-dqm", "tpc") == new
    old.refresh_from_db()
    assert not old.active and old.superseded_by == new and old.expired_reason == "superseded"
    assert old.hist_for("adc_rms", U1)["counts"] == [4, 4, 4, 4]
    assert ReferenceSet.objects.count() == 2
    assert references.current_reference("tpc-dqm", "bi") is None


def test_a_reference_expires_past_its_validity_or_its_age(world, settings):
    ref = references.make_reference("tpc-dqm", "tpc", runs=[100])
    assert not ref.expired and ref.expired_reason == ""
    ReferenceSet.objects.filter(pk=ref.pk).update(created=timezone.now() - timedelta(days=31))
    ref = ReferenceSet.objects.get(pk=ref.pk)
    assert ref.expired and "older than 30 days" in ref.expired_reason
    settings.P3S = {**settings.P3S, "REFERENCE_MAX_AGE_DAYS": 60.0}
    assert not ref.expired
    ref.valid_until = timezone.now() - timedelta(minutes=1)
    assert ref.expired and "past its validity" in ref.expired_reason


def test_a_reference_expires_when_data_pass_its_last_run(world):
    ref = references.make_reference("tpc-dqm", "tpc", runs=[100], valid_to_run=150)
    assert ref.latest_run == 200 and ref.expired
    assert "run 200 is past its last run 150" in ref.expired_reason
    ref = references.make_reference("tpc-dqm", "tpc", runs=[100], valid_to_run=300)
    assert not ref.expired


def test_a_histogram_with_other_binning_is_left_out_with_a_note(world):
    world.run_file(102, hists=[("adc_rms", U1, [1, 1, 1], [0.0, 1.0, 2.0, 3.0])])
    ref = references.make_reference("tpc-dqm", "tpc", runs=[101, 102])
    assert ref.hist_for("adc_rms", U1)["counts"] == [10, 0, 0, 0]
    assert "other bin edges: left out" in ref.notes


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"template": "nope", "stream": "tpc", "runs": [100]}, "no DAG template 'nope'"),
        ({"template": "tpc-dqm", "stream": "tpc"}, "choose the runs"),
        ({"template": "tpc-dqm", "stream": "tpc", "runs": [777]}, "no DAG run"),
        ({"template": "tpc-dqm", "stream": "bi", "runs": [100]}, "no DAG run"),
        ({"template": "tpc-dqm", "stream": "tpc", "dagruns": [99999]}, "are not runs of"),
    ],
)
def test_a_reference_from_nothing_is_refused_with_the_reason(world, kwargs, words):
    with pytest.raises(references.ReferenceRefused, match=words):
        references.make_reference(**kwargs)
    assert ReferenceSet.objects.count() == 0


def test_a_run_whose_products_are_gone_is_refused(world):
    Product.objects.filter(run=101).delete()
    with pytest.raises(references.ReferenceRefused, match="retention"):
        references.make_reference("tpc-dqm", "tpc", runs=[101])


def test_the_command_makes_and_lists_references(world, capsys):
    with pytest.raises(CommandError, match="not signed off good"):
        call_command("p3s_reference", "--template", "tpc-dqm", "--run", "100")
    sign_off(100, None, "good", actor="test")
    call_command("p3s_reference", "--template", "tpc-dqm", "--run", "100", "--valid-days", "7")
    ref = references.current_reference("tpc-dqm", "tpc")
    assert ref.source_runs == [100] and ref.owner == "p3s_reference"
    assert ref.valid_until > timezone.now() + timedelta(days=6)
    call_command("p3s_reference", "--list")
    out = capsys.readouterr().out
    assert "2 histograms, 2 metrics" in out and "tpc-dqm/tpc" in out
