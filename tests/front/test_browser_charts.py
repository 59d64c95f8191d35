"""In real Chromium: the strip chart's quick range and run picker set the plotted time range and
the run markers; the auto refresh re-fetches the chart and draws the new points in place.
Screenshots in var/screenshots/."""

from datetime import timedelta

import pytest

from p3s.dqm.models import Metric

from .browserkit import browser_marks, log_in, new_page, shot
from .chartdata import RUN_LENGTH, RUNS, add_run, chart_world

pytestmark = [*browser_marks, pytest.mark.django_db(transaction=True)]

# The plotted range (Range1d named "time", ms since the epoch) and the run labels ("run-N"),
# read from the Bokeh document the page drew last.
READ_CHART = """() => {
  const doc = Bokeh.documents[Bokeh.documents.length - 1];
  const out = {range: null, runs: [], docs: Bokeh.documents.length};
  for (const m of doc.all_models) {
    if (m.name === "time") out.range = [m.start, m.end];
    if (m.name && /^run-[0-9]+$/.test(m.name)) out.runs.push(Number(m.name.slice(4)));
  }
  out.runs = [...new Set(out.runs)].sort();
  return out;
}"""


def ms(t):
    return t.timestamp() * 1000


def test_ranges_runs_and_auto_refresh(live_server, browser, dqm_world, operator):
    world = chart_world(dqm_world)
    operator("olga")
    base = live_server.url
    context, page, errors = new_page(browser, height=800)
    log_in(page, base, "olga")
    page.goto(f"{base}/charts/?metric=adc_rms&split=")
    page.wait_for_selector("#chart canvas")

    latest = RUNS[6003] + RUN_LENGTH
    page.click("#range-chips >> text=last hour")
    page.wait_for_url("**range=1h")
    page.wait_for_selector("#chart canvas")
    chart = page.evaluate(READ_CHART)
    assert chart["range"] == [ms(latest - timedelta(hours=1)), ms(latest)]
    assert chart["runs"] == [6003]
    assert page.locator("#chart-runs .run-mark").all_inner_texts() == ["6003"]
    shot(page, "30-chart-last-hour")

    page.select_option("#run-pick", "6002")  # the form submits itself
    page.wait_for_url("**run=6002**")
    page.wait_for_selector("#chart canvas")
    chart = page.evaluate(READ_CHART)
    assert chart["range"] == [ms(RUNS[6002]), ms(RUNS[6002] + RUN_LENGTH)]
    assert chart["runs"] == [6002]
    assert page.locator("#range-chips a.on").inner_text() == "run 6002"
    shot(page, "31-chart-run")

    page.click("#range-chips >> text=shift (8 h)")
    page.wait_for_url("**range=shift**")
    page.wait_for_selector("#chart canvas")
    assert page.evaluate(READ_CHART)["runs"] == [6001, 6002, 6003]
    shot(page, "32-chart-shift-runs")

    # Auto refresh: a fake clock, so 30 s pass at once; new data arrive meanwhile.
    page.clock.install()
    page.evaluate("window.p3sSamePage = true")  # gone if the page reloads
    page.select_option("#refresh", "30")
    assert "refresh=30" in page.url  # the choice stays in the address
    before = int(page.get_attribute("#chart-info", "data-npoints"))
    added = add_run(world.jobs[0], 6004, latest + timedelta(minutes=10), timedelta(minutes=30))
    page.clock.run_for(31_000)
    page.wait_for_selector("#chart[data-refreshes='1']")
    page.clock.resume()
    page.wait_for_selector("#chart canvas")
    assert int(page.get_attribute("#chart-info", "data-npoints")) == before + added
    chart = page.evaluate(READ_CHART)
    assert 6004 in chart["runs"]
    assert chart["range"][1] == ms(latest + timedelta(minutes=40))  # the window slid
    assert chart["docs"] == 1  # the old document was let go
    assert page.evaluate("window.p3sSamePage === true")  # redrawn in place, no reload
    assert Metric.objects.filter(run=6004).count() == added
    shot(page, "33-chart-refreshed")
    assert errors == []
    context.close()
