"""On clean synthetic runs the shipped checks raise at most 1 % false flags, counted over every
check evaluated (generator data, payload statistics, real intake, a reference run)."""

from __future__ import annotations

from collections import Counter

import pytest

from p3s.quality.catalogue import load_checks
from p3s.quality.models import Check, Flag, RunTally

from . import quality_data as qd
from .quality_world import media, new_job, post_apa, real_reference, tpc_template  # noqa: F401

REF_RUN = 100


def judge_clean_runs(runs, apas) -> Counter:
    """Flags of clean runs judged against a reference made by make_reference from REF_RUN,
    with the shipped conditions and each run's known-bad list as a condition version."""
    load_checks()
    tpc_template()
    per_apa = {a: qd.products(REF_RUN, a) for a in apas}
    real_reference(REF_RUN, per_apa, {run: qd.known_bad_of(run, apas) for run in runs})
    for run in runs:
        job = new_job(run)
        for apa in apas:
            post_apa(job, apa, qd.products(run, apa))
    return Counter({f: sum(getattr(t, f) for t in RunTally.objects.all()) for f in Flag.values})


def assert_at_most_one_percent(flags: Counter) -> None:
    total = sum(flags.values())
    false = flags["warning"] + flags["bad"]
    print(
        f"clean runs: {total} checks, {false} false flags ({100 * false / total:.2f} %): {dict(flags)}"
    )
    assert flags["undefined"] == 0, "every shipped check had what it needs"
    assert false <= 0.01 * total


@pytest.mark.django_db
def test_clean_runs_raise_at_most_one_percent_false_flags():
    # APA 1 carries the generator's pickup lines, APA 0 none.
    flags = judge_clean_runs(runs=[101], apas=[0, 1])
    assert sum(flags.values()) > 2000
    assert_at_most_one_percent(flags)
    evaluated = set(RunTally.objects.values_list("check_ref__name", flat=True))
    shipped_for_tpc = Check.objects.filter(template="tpc-dqm")  # the streams' checks judge others
    assert evaluated == set(shipped_for_tpc.values_list("name", flat=True))


@pytest.mark.slow
@pytest.mark.full  # the bounded form is the test above; make test-full runs this one
@pytest.mark.django_db
def test_three_clean_runs_of_all_six_apas_raise_at_most_one_percent_false_flags():
    flags = judge_clean_runs(runs=[101, 102, 103], apas=range(6))
    assert sum(flags.values()) > 20000
    assert_at_most_one_percent(flags)
