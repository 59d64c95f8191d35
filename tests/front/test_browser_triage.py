"""In real Chromium: the operator opens the failures page, picks a range, follows a group to
its jobs (the error column shows the message). Screenshots in var/screenshots/."""

import pytest

from .browserkit import browser_marks, log_in, new_page, shot
from .test_triage import OTHER, TRI, fail

pytestmark = [*browser_marks, pytest.mark.django_db(transaction=True)]


def test_the_triage_page_and_its_jobs(
    live_server, browser, operator, make_dag, announce, pilot_record
):
    operator("olga")
    make_dag(TRI)
    make_dag(OTHER)
    pilot = pilot_record()
    for i in range(3):
        announce(stream="tri")
        fail(pilot, f"dqm-daq: /data/run{i}/f{i}.h5 is truncated at byte {1000 + i}", 2)
    announce(stream="trio")
    fail(pilot, "killed at its time limit of 60 s", None, state="timeout")
    context, page, errors = new_page(browser)
    base = live_server.url
    log_in(page, base, "olga")
    page.click("header nav >> text=Failures")
    page.click("#range-chips >> text=last hour")
    page.wait_for_url("**/failures/?range=1h")
    rows = page.locator("#triage-table tr[data-key]")
    assert rows.count() == 2
    first = rows.first.inner_text()
    assert "truncated at byte <n>" in first and "not retriable" in first
    shot(page, "23-failures-triage")
    rows.first.locator("text=jobs").click()
    page.wait_for_selector("#job-table")
    assert page.locator("#job-table td.err").count() == 3
    assert "truncated at byte 1000" in page.inner_text("#job-table")
    shot(page, "24-failures-jobs")
    assert errors == []
    context.close()
