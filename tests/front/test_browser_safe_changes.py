"""In real Chromium: the expert dry-runs an edit in the editor (jobs and diff shown, nothing
saved) and diffs two versions on the history page. Screenshots in var/screenshots/."""

import pytest

from p3s.dags.models import DagRun, DagTemplate
from p3s.jobs.models import Job

from .browserkit import browser_marks, log_in, new_page, shot

pytestmark = [*browser_marks, pytest.mark.django_db(transaction=True)]

V1 = """\
# the browser test's template
name: brw
trigger: {stream: diag}
stages:
  a: {payload: diag}
  b: {payload: diag, parents: [a], prescale: 0.5}
"""


def test_the_editor_dry_run_and_the_version_diff(live_server, browser, expert, make_dag, announce):
    from p3s.dags import flow, spec

    expert("eddie")
    make_dag(V1)
    flow.apply_spec(spec.load(V1 + "  c: {payload: diag, parents: [b]}\n"), "eddie", V1)
    t = DagTemplate.objects.get(name="brw")
    f = announce().file
    jobs, runs = Job.objects.count(), DagRun.objects.count()
    context, page, errors = new_page(browser)
    base = live_server.url
    log_in(page, base, "eddie")
    page.goto(f"{base}/admin/dags/dagtemplate/{t.pk}/change/")
    text = page.input_value("textarea[name=yaml]")
    page.fill("textarea[name=yaml]", text.replace("prescale: 0.5", "prescale: 0.1"))
    page.select_option("#dryrun-file", str(f.pk))
    page.click("#dryrun-button")
    page.wait_for_selector("#dryrun-jobs tr[data-stage=c]")
    diff_text = page.inner_text("#dryrun-diff")
    assert "stage b prescale: 0.5 → 0.1" in diff_text
    assert page.locator("#dryrun-jobs tr[data-stage]").count() == 3
    shot(page, "21-admin-dag-dry-run")
    assert (Job.objects.count(), DagRun.objects.count()) == (jobs, runs)
    assert DagTemplate.objects.get(pk=t.pk).current_version.number == 2

    page.goto(f"{base}/admin/dags/dagtemplate/{t.pk}/history/")
    page.select_option("select[name=a]", "1")
    page.select_option("select[name=b]", "2")
    page.click("#diff-form input[type=submit]")
    page.wait_for_selector("#diff")
    assert "stage added: c" in page.inner_text("#diff")
    shot(page, "22-admin-dag-diff")
    assert errors == []
    context.close()
