"""Histogram products are drawn on the server with the reference overlaid and a ratio panel."""

from __future__ import annotations

import json

import pytest

from p3s.conditions.references import make_reference
from p3s.front.histsvg import BadHist, _scaled, hist_svg, parse_hist, ratio_values

from .conftest import hist_body


def test_a_histogram_against_its_reference_has_both_curves_and_a_ratio_panel():
    svg = hist_svg(hist_body(mean=4.0), hist_body(mean=5.0, entries=400))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert 'class="data"' in svg and 'class="reference"' in svg and 'class="ratio"' in svg
    assert "reference (scaled)" in svg


def test_a_histogram_without_reference_has_no_ratio_panel():
    svg = hist_svg(hist_body())
    assert 'class="data"' in svg
    assert 'class="reference"' not in svg and 'class="ratio"' not in svg


def test_the_reference_is_scaled_to_the_same_entries_so_equal_shapes_give_ratio_one():
    this, ref = hist_body(entries=800), hist_body(entries=400)
    scaled = _scaled(this, ref)
    assert sum(scaled) == pytest.approx(sum(this["counts"]), rel=1e-6)
    ratios = ratio_values(this, scaled)
    full = [r for r, c in zip(ratios, this["counts"], strict=True) if c > 1]
    assert full and all(r == pytest.approx(1.0, rel=1e-3) for r in full)


def test_a_profile_is_not_rescaled():
    prof = {**hist_body(), "profile": True}
    ref = {**hist_body(entries=10), "profile": True}
    assert _scaled(prof, ref) == ref["counts"]


def test_a_reference_with_other_binning_is_not_drawn_and_says_why():
    ref = {**hist_body(), "edges": [0, 1, 2], "counts": [1, 2]}
    svg = hist_svg(hist_body(), ref)
    assert 'class="reference"' not in svg and "not drawn" in svg


@pytest.mark.parametrize(
    "body, why",
    [
        ({"format": "other"}, "p3s-hist-1"),
        ({"format": "p3s-hist-1", "edges": [0, 1], "counts": [1, 2]}, "one more edge"),
        ({"format": "p3s-hist-1", "edges": [1, 0], "counts": [1]}, "increase"),
        ({"format": "p3s-hist-1", "edges": [0, "a"], "counts": [1]}, "numbers"),
    ],
)
def test_a_malformed_histogram_is_refused_with_its_reason(body, why):
    with pytest.raises(BadHist, match=why):
        parse_hist(json.dumps(body))


def test_the_product_page_draws_a_histogram_over_the_reference(hist_world, operator, client_of):
    good, bad = hist_world()
    make_reference("tpc-dqm", "tpc", runs=[5001], owner="eddie")
    product = next(
        p
        for p in bad.products
        if p.labels.get("hist") and p.labels["apa"] == "2" and p.labels["plane"] == "x"
    )
    html = client_of(operator()).get(f"/products/{product.pk}/").content.decode()
    assert 'id="overlay"' in html
    assert 'class="reference"' in html and 'class="ratio"' in html
    assert "reference (run 5001)" in html


def test_the_product_page_says_when_there_is_no_reference(hist_world, operator, client_of):
    (good,) = hist_world(runs=(5001,))
    product = next(p for p in good.products if p.labels.get("hist"))
    html = client_of(operator()).get(f"/products/{product.pk}/").content.decode()
    assert 'class="data"' in html and 'class="reference"' not in html
    assert "no reference set: drawn alone" in html


def test_the_gallery_draws_histograms_inline_against_the_reference(hist_world, operator, client_of):
    hist_world()
    make_reference("tpc-dqm", "tpc", runs=[5001])
    html = client_of(operator()).get("/products/?run=5002&kind=json").content.decode()
    assert html.count('class="hist-thumb"') == 6
    assert html.count('class="reference"') == 6
