"""Every operator page renders for an operator and shows what it is for."""

from __future__ import annotations

import pytest
from django.urls import reverse

from p3s.dqm.models import Alarm, Product
from p3s.front.assets import bokeh_js_urls


@pytest.fixture
def world_and_client(dqm_world, operator, client_of):
    world = dqm_world(files=2, fail_last=True)
    return world, client_of(operator())


def test_dashboard_shows_queue_pilots_latency_and_open_alarms(world_and_client):
    world, c = world_and_client
    resp = c.get("/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert 'http-equiv="refresh"' in html
    assert "Queue by stage" in html and "DQM latency" in html
    assert "adc-rms-high" in html  # the open alarm
    assert "critical alarm" in html  # the red banner


def test_runs_page_lists_the_run_and_its_dagrun_states(world_and_client):
    world, c = world_and_client
    html = c.get("/runs/").content.decode()
    assert "5001" in html and "st-failed" in html
    html = c.get("/runs/5001/").content.decode()
    assert f"/dagruns/{world.dagruns[0].pk}/" in html
    assert c.get("/runs/999/").status_code == 404


def test_dagrun_page_draws_the_graph_coloured_by_job_state(world_and_client):
    world, c = world_and_client
    run = world.dagruns[-1]
    html = c.get(f"/dagruns/{run.pk}/").content.decode()
    assert (
        "<svg" in html
        and 'class="node state-failed"' in html
        and 'class="node state-finished"' in html
    )
    assert 'data-stage="vis"' in html  # not created yet: drawn dashed
    # The last run's fft failed for good: vis will never run, and the page says why.
    assert "will not run: fft failed" in html


def test_jobs_page_filters_and_paginates(world_and_client):
    world, c = world_and_client
    resp = c.get("/jobs/?state=failed")
    html = resp.content.decode()
    assert resp.status_code == 200
    failed = [j for j in world.jobs if j.state == "failed"]
    assert f'href="/jobs/{failed[0].pk}/"' in html
    assert html.count('<span class="st st-failed">failed</span>') >= 1
    assert c.get("/jobs/?run=abc").status_code == 200  # a bad filter is a message, not an error
    assert c.get("/jobs/?page=999").status_code == 200


def test_job_page_shows_events_log_outputs_and_products(world_and_client):
    world, c = world_and_client
    vis = next(j for j in world.jobs if j.stage == "vis")
    html = c.get(f"/jobs/{vis.pk}/").content.decode()
    assert "Events" in html and "stage vis ok" in html and f"/out/{vis.pk}.h5" in html
    assert "ADC RMS APA1 plane x" in html
    failed = next(j for j in world.jobs if j.state == "failed")
    html = c.get(f"/jobs/{failed.pk}/").content.decode()
    assert "bad FEMB 7" in html and "Retry" in html


def test_products_gallery_filters_by_run_apa_plane_and_kind(world_and_client):
    world, c = world_and_client
    html = c.get("/products/?run=5001&apa=2&plane=x").content.decode()
    assert "ADC RMS APA2 plane x" in html and "ADC RMS APA1" not in html
    html = c.get("/products/?kind=bokeh").content.decode()
    bk = next(p for p in world.products if p.kind == "bokeh")
    assert f'sandbox="allow-scripts" loading="lazy" src="/products/{bk.pk}/embed"' in html


def test_product_page_and_file_have_the_right_type_and_cache_headers(world_and_client):
    world, c = world_and_client
    png = next(p for p in world.products if p.kind == "png")
    assert c.get(f"/products/{png.pk}/").status_code == 200
    resp = c.get(f"/products/{png.pk}/file")
    assert resp.status_code == 200
    assert resp["Content-Type"] == "image/png"
    assert "private" in resp["Cache-Control"] and "max-age" in resp["Cache-Control"]
    assert b"".join(resp.streaming_content).startswith(b"\x89PNG")
    again = c.get(f"/products/{png.pk}/file", HTTP_IF_MODIFIED_SINCE=resp["Last-Modified"])
    assert again.status_code == 304
    bk = next(p for p in world.products if p.kind == "bokeh")
    resp = c.get(f"/products/{bk.pk}/file")
    assert resp["Content-Type"] == "application/json"
    assert c.get("/products/999999/file").status_code == 404


def test_bokeh_products_are_drawn_in_a_sandbox_of_their_own(world_and_client):
    world, c = world_and_client
    bk = next(p for p in world.products if p.kind == "bokeh")
    resp = c.get(f"/products/{bk.pk}/embed")
    assert resp.status_code == 200
    assert resp["Content-Security-Policy"] == "sandbox allow-scripts"
    assert resp["X-Frame-Options"] == "SAMEORIGIN"
    html = resp.content.decode()
    assert bokeh_js_urls()[0] in html and 'id="item"' in html and "embed_item" in html
    png = next(p for p in world.products if p.kind == "png")
    assert c.get(f"/products/{png.pk}/embed").status_code == 404


def test_product_file_accepts_an_operator_api_token(world_and_client, client):
    from p3s.accounts.models import ApiToken

    world, _ = world_and_client
    png = world.products[0]
    _, key = ApiToken.issue("ops-script", "operator")
    assert (
        client.get(f"/products/{png.pk}/file", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    )
    assert (
        client.get(f"/products/{png.pk}/file", HTTP_AUTHORIZATION="Token nope").status_code == 401
    )
    _, pilot_key = ApiToken.issue("pilots2", "pilot")
    assert client.get(
        f"/products/{png.pk}/file", HTTP_AUTHORIZATION=f"Token {pilot_key}"
    ).status_code in (302, 403)


def test_strip_chart_embeds_a_bokeh_item_with_the_alarm_limit(world_and_client):
    world, c = world_and_client
    html = c.get("/charts/?metric=adc_rms&group=apa&split=plane").content.decode()
    assert 'id="chart-data"' in html and "Span" in html and "adc-rms-high" in html
    html = c.get("/charts/?metric=adc_rms&run=5001&apa=2").content.decode()
    assert 'id="chart-data"' in html
    assert "No values" in c.get("/charts/?metric=nothing").content.decode()


def test_alarms_page_lists_open_alarms_with_an_acknowledge_button(world_and_client):
    world, c = world_and_client
    alarm = Alarm.objects.get()
    html = c.get("/alarms/").content.decode()
    assert f"/alarms/{alarm.pk}/ack/" in html and "apa=2" in html
    assert "Acknowledge" in html


def test_pilots_page_shows_host_batch_id_and_state(world_and_client):
    world, c = world_and_client
    html = c.get("/pilots/").content.decode()
    assert "np04-srv-021" in html and "4711.0" in html and "st-idle" in html


def test_bokehjs_and_css_are_served_from_the_installed_packages(client):
    resp = client.get(bokeh_js_urls()[0])
    assert resp.status_code == 200
    assert "javascript" in resp["Content-Type"]
    assert "immutable" in resp["Cache-Control"]
    assert client.get("/bokehjs/0.0.1/js/bokeh.min.js").status_code == 404
    assert (
        client.get("/bokehjs/" + bokeh_js_urls()[0].split("/")[2] + "/../../etc/passwd").status_code
        == 404
    )
    assert client.get("/static/front/p3s.css").status_code == 200
    assert client.get("/static/admin/css/base.css").status_code == 200
    assert client.get("/static/../settings.py").status_code == 404


def test_login_page_renders(client):
    resp = client.get(reverse("login"))
    assert resp.status_code == 200 and b"Log in to p3s" in resp.content


def test_product_count_on_run_page(world_and_client):
    world, c = world_and_client
    assert f"{Product.objects.count()} products" in c.get("/runs/5001/").content.decode()


def test_png_thumbnails_are_made_once_and_small(world_and_client, settings):
    from PIL import Image

    from p3s.dqm.models import Product
    from p3s.dqm.thumbs import thumb_name

    world, c = world_and_client
    png = next(p for p in world.products if p.kind == "png")
    big = Image.new("RGB", (1600, 1200), "white")
    with png.file.open("wb") as fh:
        big.save(fh, format="PNG")
    resp = c.get(f"/products/{png.pk}/thumb")
    assert resp.status_code == 200 and resp["Content-Type"] == "image/png"
    import io

    small = Image.open(io.BytesIO(b"".join(resp.streaming_content)))
    assert small.width <= 480 and small.height <= 360
    assert png.file.storage.exists(thumb_name(png.pk))
    assert c.get(f"/products/{png.pk}/thumb").status_code == 200  # from the stored thumbnail
    bk = next(p for p in world.products if p.kind == "bokeh")
    assert c.get(f"/products/{bk.pk}/thumb").status_code == 404
    assert f"/products/{png.pk}/thumb" in c.get("/products/").content.decode()
    from datetime import timedelta

    from django.utils import timezone

    from p3s.dqm.models import RetentionRule
    from p3s.dqm.retention import apply_retention

    RetentionRule.objects.create(target="products", days=1, kind="png")
    apply_retention(now=timezone.now() + timedelta(days=2))
    assert not Product.objects.filter(pk=png.pk).exists()
    assert not png.file.storage.exists(thumb_name(png.pk))
