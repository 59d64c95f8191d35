"""The pages in a real browser (headless Chromium through playwright) against a live server.

One walk through an operator's shift and an expert's edit; each page's screenshot is saved in
var/screenshots/ (not committed) so that people can look at them.
"""

from __future__ import annotations

from p3s.dqm.models import Alarm
from p3s.jobs.models import Job

from .browserkit import browser_marks, log_in, new_page, shot

pytestmark = browser_marks


def test_an_operator_shift_and_an_expert_edit(live_server, browser, dqm_world, operator, expert):
    world = dqm_world(files=3, fail_last=True)
    operator("olga")
    expert("eddie")
    base = live_server.url
    context, page, errors = new_page(browser, height=900)

    log_in(page, base, "olga")
    assert page.locator("#status").is_visible()
    assert "critical alarm" in page.inner_text("#status")
    assert page.locator("#queue").count() == 1
    shot(page, "01-dashboard")

    # follow a run to its DAG run
    page.click("header nav >> text=Runs")
    page.click("#runs >> text=5001")
    page.wait_for_url("**/runs/5001/")
    shot(page, "02-run")
    page.locator("a.dagrun-link").first.click()
    page.wait_for_url("**/dagruns/*/")
    assert (
        page.locator("svg.dag g.node").count() == 4 or page.locator("svg.dag g.node").count() >= 3
    )
    shot(page, "03-dagrun")

    # the failed job, retried from its page
    failed = Job.objects.get(state="failed")
    page.goto(f"{base}/jobs/?state=failed")
    shot(page, "04-jobs")
    page.click(f"#job-table >> a[href='/jobs/{failed.pk}/']")
    page.wait_for_url(f"**/jobs/{failed.pk}/")
    shot(page, "05-job")
    page.click("#job-actions >> button:has-text('Retry')")
    page.wait_for_selector("ul.messages li.success")
    assert Job.objects.get(pk=failed.pk).state == "waiting"

    # products: PNG thumbnails and a bokeh document drawn by BokehJS
    page.goto(f"{base}/products/")
    page.wait_for_selector("#gallery img")
    page.frame_locator("#gallery iframe.bk-frame").first.locator("canvas").first.wait_for()
    shot(page, "06-products")
    bokeh = next(p for p in world.products if p.kind == "bokeh")
    page.goto(f"{base}/products/{bokeh.pk}/")
    plot = page.frame_locator("#bk-product")
    plot.locator("canvas").first.wait_for()  # BokehJS drew it, inside the sandboxed frame
    assert plot.locator("canvas").count() >= 1
    shot(page, "07-product")

    # a strip chart with its alarm limit
    page.goto(f"{base}/charts/?metric=adc_rms&group=apa&split=plane")
    page.wait_for_selector("#chart canvas")
    assert page.locator("#chart canvas").count() >= 1
    shot(page, "08-strip-chart")

    # acknowledge the alarm
    page.goto(f"{base}/alarms/")
    shot(page, "09-alarms")
    page.click("#alarm-table >> button:has-text('Acknowledge')")
    page.wait_for_selector("ul.messages li.success")
    assert Alarm.objects.get().state == "acknowledged"
    assert Alarm.objects.get().acked_by == "user:olga"

    page.goto(f"{base}/pilots/")
    assert "np04-srv-021" in page.inner_text("#pilot-table")
    shot(page, "10-pilots")
    page.click("header .who button")  # log out
    page.wait_for_url("**/accounts/login/")

    # the expert edits a DAG template in the admin; a cycle is refused next to the field
    log_in(page, base, "eddie")
    page.goto(f"{base}/admin/dags/dagtemplate/{world.template.pk}/change/")
    page.wait_for_selector("#dag-preview svg")
    yaml_text = page.input_value("textarea[name=yaml]")
    assert "name: tpc-dqm" in yaml_text
    cyclic = yaml_text.replace("parents: []", "parents: [vis]", 1)  # adc, the root, after vis
    assert cyclic != yaml_text
    page.fill("textarea[name=yaml]", cyclic)
    page.wait_for_selector("#dag-preview-error >> text=cycle")  # the live preview explains
    page.click("input[name=_save]")
    page.wait_for_selector(".errorlist >> text=form a cycle")
    shot(page, "11-admin-dag-cycle")
    page.fill("textarea[name=yaml]", yaml_text.replace("priority: 20", "priority: 25", 1))
    page.click("input[name=_save]")
    page.wait_for_selector("ul.messagelist")
    shot(page, "12-admin-dag-saved")
    assert not errors, errors
    context.close()
