"""The compare view: run A against run B, histogram overlays with their ratio, metric differences."""

from __future__ import annotations

import re


def test_compare_overlays_each_histogram_of_run_a_on_run_b(hist_world, operator, client_of):
    hist_world()
    html = client_of(operator()).get("/compare/?a=5002&b=5001").content.decode()
    assert html.count('class="ratio"') == 6  # two APAs, three planes: every pair drawn
    assert "run 5002" in html and "run 5001" in html


def test_compare_lists_metric_differences_largest_first(hist_world, operator, client_of):
    hist_world()
    resp = client_of(operator()).get("/compare/?a=5002&b=5001")
    table = resp.context["table"]
    assert table, "the metric table is empty"
    # hist_world's adc_rms_mean is 4 ADC everywhere but APA 2 plane x of the second run (7 ADC)
    first = table[0]
    assert (first["name"], first["labels"]) == (
        "adc_rms_mean",
        {"apa": "2", "plane": "x", "stream": "tpc"},
    )
    assert first["a"] == 7.0 and first["b"] == 4.0 and first["diff"] == 3.0
    assert first["rel"] == 0.75
    assert all(r["diff"] == 0 for r in table[1:])


def test_compare_filters_by_apa_and_plane(hist_world, operator, client_of):
    hist_world()
    html = client_of(operator()).get("/compare/?a=5002&b=5001&apa=2&plane=x").content.decode()
    assert html.count('class="ratio"') == 1


def test_compare_without_runs_shows_the_form(hist_world, operator, client_of):
    hist_world()
    resp = client_of(operator()).get("/compare/")
    assert resp.status_code == 200 and not resp.context["ready"]
    assert 'id="compare-form"' in resp.content.decode()


def test_compare_with_a_run_that_is_not_a_number_warns_and_draws_nothing(operator, client_of):
    resp = client_of(operator()).get("/compare/?a=x&b=5001")
    assert resp.status_code == 200 and not resp.context["ready"]
    assert re.search(r"runs must be numbers", resp.content.decode())


def test_compare_is_not_for_anonymous_visitors(client):
    resp = client.get("/compare/?a=1&b=2")
    assert resp.status_code == 302 and "/accounts/login/" in resp["Location"]
