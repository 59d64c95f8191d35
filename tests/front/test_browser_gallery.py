"""In real Chromium: the gallery loads BokehJS once per page however many interactive plots it
shows (and not at all on the next view: the browser cache), each plot still in its sandboxed
frame; the grid shows a layout by APA and plot type; an expert saves a layout an operator then
picks. Bytes per view are printed (run with -s). Screenshots in var/screenshots/."""

import pytest

from p3s.front.assets import BOKEH_COMPONENTS
from p3s.front.models import GalleryLayout

from .browserkit import browser_marks, log_in, new_page, shot
from .gallerykit import Traffic, add_apa_products, add_bokeh_products

pytestmark = [*browser_marks, pytest.mark.django_db(transaction=True)]

FRAMES = "iframe.bk-frame"


def wait_for_plots(page, n: int) -> None:
    for i in range(n):
        page.frame_locator(FRAMES).nth(i).locator("canvas").first.wait_for()


def test_the_gallery_fetches_bokehjs_once_per_page(live_server, browser, dqm_world, operator):
    world = dqm_world(files=1)
    extra = add_bokeh_products(world, 6)
    operator("olga")
    context, page, errors = new_page(browser, height=3200)  # every lazy frame in view
    log_in(page, live_server.url, "olga")
    traffic = Traffic(page)
    seen = []
    for view in ("first", "second"):
        traffic.clear()
        page.goto(f"{live_server.url}/products/")
        n = page.locator(f"#gallery {FRAMES}").count()
        assert n == 7
        wait_for_plots(page, n)
        page.wait_for_load_state("networkidle")
        for c in BOKEH_COMPONENTS:
            assert traffic.fetches(f"/js/{c}.min.js") <= 1, (view, c, traffic.rows)
        seen.append((traffic.total, traffic.bytes_of("/bokehjs/")))
        print(
            f"\n{view} gallery view, {n} bokeh frames: {traffic.total} bytes in "
            f"{len(traffic.rows)} requests, BokehJS {traffic.bytes_of('/bokehjs/')} bytes"
        )
    (first_total, first_js), (second_total, second_js) = seen
    assert first_js > 1_000_000  # BokehJS came once (the three files are about 1.9 MB)...
    assert first_total < 3_000_000  # ...not once per frame (7 frames were 13.7 MB before)
    assert second_js < 50_000  # the next view takes it from the browser's cache
    # Each plot stays in its own sandbox: no frame reaches the page's origin.
    sandboxes = page.eval_on_selector_all(FRAMES, "fs => fs.map(f => f.getAttribute('sandbox'))")
    assert set(sandboxes) == {"allow-scripts"}
    assert (
        page.frame_locator(FRAMES)
        .first.locator("body")
        .evaluate(
            "() => { try { return window.parent.document && 'reached'; } catch (e) { return 'blocked'; } }"
        )
        == "blocked"
    )
    shot(page, "34-gallery-bokeh-once")
    # A frame opened alone (no page around it to ask) loads BokehJS itself.
    page.goto(f"{live_server.url}/products/{extra[0].pk}/embed")
    page.wait_for_selector("#plot canvas")
    assert errors == []
    context.close()


def test_an_expert_saves_a_layout_and_an_operator_picks_it(
    live_server, browser, dqm_world, operator, expert
):
    world = dqm_world(files=1)
    add_apa_products(world)
    add_bokeh_products(world, 4)
    expert("eddie")
    operator("olga")
    base = live_server.url
    context, page, errors = new_page(browser, width=1500, height=1000)
    log_in(page, base, "eddie")
    page.goto(f"{base}/products/")
    page.click("#gallery-views >> text=grid by APA and plot type")
    page.wait_for_selector("#gallery-grid[data-layout='all']")
    rows = page.eval_on_selector_all("#gallery-grid tbody tr", "rs => rs.map(r => r.dataset.apa)")
    assert rows == ["1", "2", "3", "4"]
    headers = page.eval_on_selector_all(
        "#gallery-grid thead th[data-column]", "hs => hs.map(h => h.dataset.column)"
    )
    assert "png/vis/noise RMS per plane" in headers
    assert "bokeh/vis/RMS per channel (interactive)" in headers
    wait_for_plots(page, 1)
    shot(page, "35-gallery-grid-expert")

    page.click("#layout-save summary")
    keep = ["bokeh/vis/RMS per channel (interactive)", "png/vis/noise RMS per plane"]
    for box in page.locator("#layout-save input[name=column]").all():
        if box.get_attribute("value") not in keep:
            box.uncheck()
    page.fill("#layout-save input[name=name]", "noise-shift")
    page.select_option("#layout-save select[name=audience]", "shifter")
    page.fill("#layout-save input[name=apas]", "1 2")
    page.click("#layout-save button:has-text('Save layout')")
    page.wait_for_selector("ul.messages li.success")
    assert GalleryLayout.objects.get(name="noise-shift").columns == [
        "png/vis/noise RMS per plane",  # in the page's order
        "bokeh/vis/RMS per channel (interactive)",
    ]
    context.close()

    context, page, errors = new_page(browser, width=1500, height=1000)
    log_in(page, base, "olga")
    page.goto(f"{base}/products/grid/")
    assert page.locator("#layout-save").count() == 0  # operators pick, they do not save
    page.select_option("#layout-pick", "noise-shift")
    page.wait_for_url("**layout=noise-shift**")
    grid = page.locator("#gallery-grid")
    assert grid.get_attribute("data-layout") == "noise-shift"
    assert page.eval_on_selector_all(
        "#gallery-grid tbody tr", "rs => rs.map(r => r.dataset.apa)"
    ) == ["1", "2"]
    assert page.locator("#gallery-grid td.cell .prod").count() == 4
    wait_for_plots(page, 2)
    assert "APA 2 noise RMS per plane" in grid.locator("tr[data-apa='2']").inner_text()
    shot(page, "36-gallery-grid-shifter")

    page.select_option("#layout-pick", "shifter")  # the built-in one: this run has 3 of its 4 types
    page.wait_for_url("**layout=shifter**")
    assert page.locator("#gallery-grid td.cell .prod").count() == 4 * 3
    assert "filtered noise per plane" in page.inner_text("#grid-missing")
    shot(page, "37-gallery-grid-seeded-shifter")
    assert errors == []
    context.close()
