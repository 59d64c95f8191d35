"""Who sees and does what on the operator pages."""

from __future__ import annotations

import pytest

from p3s.dqm.models import Alarm
from p3s.jobs.models import Job

PAGES = ["/", "/runs/", "/runs/5001/", "/jobs/", "/products/", "/charts/", "/alarms/", "/pilots/"]


@pytest.fixture
def world(dqm_world):
    return dqm_world(files=2, fail_last=True)


def every_page(world):
    job = world.jobs[0]
    product = world.products[0] if world.products else None
    urls = PAGES + [f"/dagruns/{world.dagruns[0].pk}/", f"/jobs/{job.pk}/"]
    if product:
        urls += [
            f"/products/{product.pk}/",
            f"/products/{product.pk}/file",
            f"/products/{product.pk}/thumb",
        ]
    bokeh = next((p for p in world.products if p.kind == "bokeh"), None)
    if bokeh:
        urls.append(f"/products/{bokeh.pk}/embed")
    return urls


def actions_of(world):
    failed = Job.objects.get(state="failed")
    alarm = Alarm.objects.get()
    return [
        (f"/jobs/{failed.pk}/retry/", {}),
        (f"/jobs/{failed.pk}/cancel/", {}),
        (f"/jobs/{failed.pk}/priority/", {"priority": "5"}),
        (f"/alarms/{alarm.pk}/ack/", {}),
        ("/jobs/bulk/", {"do": "retry", "job": [failed.pk]}),
    ]


def test_anonymous_is_sent_to_the_login_page_everywhere(world, client):
    for url in every_page(world):
        resp = client.get(url)
        assert resp.status_code == 302, url
        assert resp["Location"].startswith("/accounts/login/?next="), url


def test_anonymous_never_acts(world, client, settings):
    settings.P3S = {**settings.P3S, "PUBLIC_PAGES": True}
    for url, data in actions_of(world):
        resp = client.post(url, data)
        assert resp.status_code == 302 and "/accounts/login/" in resp["Location"], url
    assert Job.objects.get(state="failed").priority != 5
    assert Alarm.objects.get().state == "open"


def test_with_public_pages_anonymous_reads_but_sees_no_buttons(world, client, settings):
    settings.P3S = {**settings.P3S, "PUBLIC_PAGES": True}
    for url in every_page(world):
        assert client.get(url).status_code == 200, url
    failed = Job.objects.get(state="failed")
    assert "Retry" not in client.get(f"/jobs/{failed.pk}/").content.decode()
    assert "Acknowledge" not in client.get("/alarms/").content.decode()
    assert client.get("/admin/dags/dagtemplate/").status_code == 302


def test_a_person_without_a_role_is_refused(world, nobody, client_of):
    c = client_of(nobody())
    for url in every_page(world):
        assert c.get(url).status_code == 403, url
    for url, data in actions_of(world):
        assert c.post(url, data).status_code == 403, url


def test_operators_read_everything_and_act(world, operator, client_of):
    c = client_of(operator())
    for url in every_page(world):
        assert c.get(url).status_code == 200, url
    for url, data in actions_of(world):
        assert c.post(url, data).status_code == 302, url


def test_actions_are_post_only_and_need_the_csrf_token(world, operator, csrf_client_of):
    c = csrf_client_of(operator())
    failed = Job.objects.get(state="failed")
    assert c.get(f"/jobs/{failed.pk}/retry/").status_code == 405
    assert c.post(f"/jobs/{failed.pk}/retry/").status_code == 403  # no CSRF token
    assert Job.objects.get(pk=failed.pk).state == "failed"
    page = c.get(f"/jobs/{failed.pk}/")
    token = page.cookies["csrftoken"].value
    assert c.post(f"/jobs/{failed.pk}/retry/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert Job.objects.get(pk=failed.pk).state == "waiting"
    assert c.post("/jobs/", {"csrfmiddlewaretoken": token}).status_code == 405


def test_the_admin_link_shows_for_experts_only(world, operator, expert, client_of):
    assert "/admin/" not in client_of(operator()).get("/").content.decode()
    assert 'href="/admin/"' in client_of(expert()).get("/").content.decode()


def test_login_with_a_password_then_the_dashboard(world, operator, client):
    from .conftest import PASSWORD

    operator("ola")
    resp = client.post(
        "/accounts/login/", {"username": "ola", "password": PASSWORD, "next": "/alarms/"}
    )
    assert resp.status_code == 302 and resp["Location"] == "/alarms/"
    assert client.get("/alarms/").status_code == 200
    client.post("/accounts/logout/", {"next": "/accounts/login/"})
    assert client.get("/").status_code == 302
