"""In real Chromium: a bad file turns its APA plane red, one click shows the failing check over
the reference, and an operator signs the run off.

The data arrive as in production: DAQ announces the files over the API, and a pilot (the real
``pilot.transport.HttpTransport``) claims the jobs, uploads histogram products and metrics and
reports them finished. The server's checks judge them on arrival.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import requests

from p3s.accounts.models import ApiToken
from p3s.conditions.references import make_reference
from p3s.dags import flow, spec
from p3s.quality.catalogue import load_checks
from pilot.transport import HttpTransport

from .browserkit import browser_marks, log_in, new_page, shot
from .conftest import TEMPLATE_YAML, hist_body

pytestmark = browser_marks

BAD = (2, "x")  # the APA and plane whose noise rises in the bad run
GOOD_RMS, BAD_RMS = 4.0, 9.0  # ADC (DETECTOR.md: ~4 ADC noise); 9 ADC is outside the bands


def announce(base: str, daq: str, run: int, subrun: int, when: datetime) -> None:
    resp = requests.post(
        f"{base}/api/v1/files/",
        headers={"Authorization": f"Token {daq}"},
        json={
            "url": f"file:///data/np04_run{run}_{subrun:04d}.h5",
            "stream": "tpc",
            "run": run,
            "subrun": subrun,
            "timestamp": when.isoformat(),
            "events": 10,
            "size": 10**8,
        },
        timeout=30,
    )
    assert resp.status_code == 201, resp.text


def pilot_processes_everything(base: str, token: str, tmp_path, bad: bool) -> int:
    """A pilot runs every waiting job: the adc stage uploads per-plane histograms and metrics."""
    t = HttpTransport(base, token)
    me = t.register(
        {"host": "np04-srv-021", "site": "CERN", "batch_system": "condor", "batch_id": "1.0"}
        | {"queues": ["default"]}
    )
    done = 0
    while (job := t.claim(me["id"], wait=0, time_left=None)) is not None:
        t.report(job["id"], {"state": "running"})
        if job["stage"] == "adc":
            metrics = []
            for apa in (1, 2):
                for plane in "uvx":
                    rms = BAD_RMS if bad and (apa, plane) == BAD else GOOD_RMS
                    path = tmp_path / f"h{job['id']}-{apa}{plane}.json"
                    path.write_text(json.dumps(hist_body("adc_rms", rms)))
                    # labelled as dqm-adcfft labels them (payloads/stages/common.py)
                    element = {"stream": "tpc", "apa": str(apa), "plane": plane}
                    labels = {"hist": "adc_rms", **element}
                    t.upload_product(
                        job["id"], path, "json", f"APA {apa} plane {plane}: channel noise", labels
                    )
                    metrics.append(
                        {
                            "name": "adc_rms_mean",
                            "value": rms,
                            "labels": element,
                        }
                    )
            t.post_metrics(job["id"], metrics)
        t.report(job["id"], {"state": "finished", "outputs": []})
        done += 1
    t.exit(me["id"], "no more work", True)
    return done


def test_a_bad_file_turns_its_cell_red_and_an_operator_signs_the_run_off(
    live_server, browser, operator, tmp_path
):
    flow.apply_spec(spec.load(TEMPLATE_YAML), actor="test")
    load_checks()  # the shipped checks, as `make migrate` loads them
    operator("olga")
    base = live_server.url
    _, daq = ApiToken.issue("daq", "daq")
    _, pilot = ApiToken.issue("pilots", "pilot")
    t0 = datetime.now(UTC) - timedelta(minutes=4)

    announce(base, daq, 5001, 1, t0)
    assert pilot_processes_everything(base, pilot, tmp_path, bad=False) == 4
    reference = make_reference("tpc-dqm", "tpc", runs=[5001], owner="eddie")
    assert reference.hist_for("adc_rms", {"stream": "tpc", "apa": "2", "plane": "x"}) is not None
    announce(base, daq, 5002, 1, t0 + timedelta(minutes=2))
    assert pilot_processes_everything(base, pilot, tmp_path, bad=True) == 4

    context, page, errors = new_page(browser, height=1000)
    log_in(page, base, "olga")
    shot(page, "20-dashboard-grid-bad-cell")  # before the checks, to see what went wrong

    # the grid: the bad APA plane is red, the other planes with data are green
    cell = page.locator(f"#cell-{BAD[0]}-{BAD[1]}")
    assert "flag-bad" in cell.get_attribute("class")
    for apa in (1, 2):
        for plane in "uvx":
            if (apa, plane) != BAD:
                assert "flag-good" in page.locator(f"#cell-{apa}-{plane}").get_attribute("class")
    assert "flag-undefined" in page.locator("#cell-4-u").get_attribute("class")  # no data there
    assert "no checks enabled" not in page.inner_text("body")
    assert f"APA {BAD[0]} plane {BAD[1]}" in page.inner_text("#status")

    # one click: the failing check, its plot over the reference
    cell.click()
    page.wait_for_url(f"**/checks/?apa={BAD[0]}&plane={BAD[1]}")
    shot(page, "21-failing-check-with-reference")
    failing = page.inner_text("#failing-table")
    assert "noise-rms-plane" in failing  # the plane's noise out of its range
    assert "rms-hist-reference" in failing  # its noise distribution against the reference
    overlay = page.locator("#overlays svg.hist").first
    overlay.wait_for()
    assert overlay.locator("path.data").count() == 1
    assert overlay.locator("path.reference").count() == 1  # the reference, overlaid
    assert overlay.locator("path.ratio").count() == 1
    shot(page, "21-failing-check-with-reference")

    # the run page: automatic verdict bad; the operator signs it off
    page.goto(f"{base}/runs/5002/")
    assert page.inner_text("#automatic") == "bad"
    page.check("#signoff-form input[value=bad]")
    page.fill("#signoff-form input[name=comment]", "APA 2 collection noise up 2x: FEMB ground?")
    page.click("#signoff-form button[type=submit]")
    page.wait_for_selector("ul.messages li.success")
    assert "signed off bad" in page.inner_text("ul.messages")
    history = page.inner_text("#signoff-history")
    assert "olga" in history and "FEMB ground" in history
    shot(page, "22-run-signed-off")

    page.goto(f"{base}/compare/?a=5002&b=5001")
    page.locator("#compare-overlays svg.hist").first.wait_for()
    shot(page, "23-compare-runs")
    assert not errors, errors
    context.close()
