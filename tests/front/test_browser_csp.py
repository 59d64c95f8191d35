"""The Content-Security-Policy in a real browser: the pages, the strip chart, the sandboxed
bokeh frames and the admin's live DAG preview work under it with no violation reported, and
what inline handlers did before (confirm before cancelling, tick every job) still works."""

from __future__ import annotations

from p3s.jobs.models import Job

from .browserkit import browser_marks, log_in, new_page

pytestmark = browser_marks


def test_the_pages_work_under_the_policy_with_no_violation(live_server, browser, dqm_world, expert):
    world = dqm_world(files=2, fail_last=True)
    expert("eddie")
    base = live_server.url
    context, page, errors = new_page(browser)
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    log_in(page, base, "eddie")
    page.goto(f"{base}/products/")
    page.frame_locator("#gallery iframe.bk-frame").first.locator("canvas").first.wait_for()
    page.goto(f"{base}/charts/?metric=adc_rms&group=apa&split=plane")
    page.wait_for_selector("#chart canvas")
    page.goto(f"{base}/admin/dags/dagtemplate/{world.template.pk}/change/")
    page.wait_for_selector("#dag-preview svg")  # the inline script, allowed by its nonce

    page.goto(f"{base}/jobs/?state=failed")
    page.check("input[data-tick-all]")
    assert (
        page.locator("input[name=job]:checked").count()
        == page.locator("input[name=job]").count()
        >= 1
    )
    page.uncheck("input[data-tick-all]")
    assert page.locator("input[name=job]:checked").count() == 0

    failed = Job.objects.get(state="failed")
    Job.objects.filter(pk=failed.pk).update(state="waiting")
    page.goto(f"{base}/jobs/{failed.pk}/")
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    page.click("#job-actions >> button:has-text('Cancel')")
    assert asked == [f"Cancel job {failed.pk}?"]
    assert Job.objects.get(pk=failed.pk).state == "waiting"  # dismissed: nothing done
    page.once("dialog", lambda d: d.accept())
    page.click("#job-actions >> button:has-text('Cancel')")
    page.wait_for_selector("ul.messages li.success")
    assert Job.objects.get(pk=failed.pk).state == "cancelled"
    assert not violations, violations
    assert not errors, errors
    context.close()
