"""Operators and experts sign a run off from its page (CSRF-protected); nobody else can."""

from __future__ import annotations

import pytest

from p3s.accounts.models import ApiToken
from p3s.quality.models import RunSignoff


@pytest.fixture
def run_5001(dqm_world):
    dqm_world(files=1, run=5001)
    return 5001


def test_an_operator_signs_a_run_off_and_the_page_shows_who_and_when(run_5001, operator, client_of):
    c = client_of(operator("olga"))
    resp = c.post("/runs/5001/signoff/", {"verdict": "good", "comment": "quiet night"}, follow=True)
    assert resp.status_code == 200
    s = RunSignoff.objects.get()
    assert (s.run, s.verdict, s.comment, s.actor) == (5001, "good", "quiet night", "user:olga")
    html = resp.content.decode()
    assert "run 5001 signed off good by user:olga" in html
    history = html[html.index('id="signoff-history"') :]
    assert "user:olga" in history and "quiet night" in history
    assert s.signed_at.strftime("%Y-%m-%d %H:%M") in history


def test_the_newest_sign_off_counts_and_the_older_ones_stay_in_the_history(
    run_5001, operator, expert, client_of
):
    client_of(operator("olga")).post("/runs/5001/signoff/", {"verdict": "good"})
    resp = client_of(expert("eddie")).post(
        "/runs/5001/signoff/", {"verdict": "bad", "comment": "APA 3 noisy"}, follow=True
    )
    assert RunSignoff.objects.count() == 2
    assert resp.context["quality"]["verdict"] == "bad"
    assert [s["by"] for s in resp.context["signoffs"]] == ["user:eddie", "user:olga"]


def test_an_anonymous_visitor_cannot_sign_off(run_5001, client):
    resp = client.post("/runs/5001/signoff/", {"verdict": "good"})
    assert resp.status_code == 302 and "/accounts/login/" in resp["Location"]
    assert not RunSignoff.objects.exists()


def test_a_person_without_a_role_cannot_sign_off(run_5001, nobody, client_of):
    resp = client_of(nobody()).post("/runs/5001/signoff/", {"verdict": "good"})
    assert resp.status_code == 403
    assert not RunSignoff.objects.exists()


def test_a_daq_token_cannot_sign_off_through_the_page(run_5001, client):
    _, daq = ApiToken.issue("daq", "daq")
    resp = client.post(
        "/runs/5001/signoff/", {"verdict": "good"}, HTTP_AUTHORIZATION=f"Token {daq}"
    )
    assert resp.status_code in (302, 403)
    assert not RunSignoff.objects.exists()


def test_a_sign_off_without_the_csrf_token_is_refused(run_5001, operator, csrf_client_of):
    resp = csrf_client_of(operator()).post("/runs/5001/signoff/", {"verdict": "good"})
    assert resp.status_code == 403
    assert not RunSignoff.objects.exists()


def test_the_sign_off_form_carries_the_csrf_token(run_5001, operator, csrf_client_of):
    c = csrf_client_of(operator())
    html = c.get("/runs/5001/").content.decode()
    form = html[html.index('id="signoff-form"') :]
    assert "csrfmiddlewaretoken" in form[: form.index("</form>")]


@pytest.mark.parametrize("verdict", ["", "maybe", "GOOD"])
def test_a_verdict_other_than_good_or_bad_is_refused_and_changes_nothing(
    run_5001, operator, client_of, verdict
):
    resp = client_of(operator()).post("/runs/5001/signoff/", {"verdict": verdict}, follow=True)
    assert "choose good or bad" in resp.content.decode()
    assert not RunSignoff.objects.exists()


def test_a_comment_longer_than_the_limit_is_refused(run_5001, operator, client_of):
    resp = client_of(operator()).post(
        "/runs/5001/signoff/", {"verdict": "bad", "comment": "x" * 2001}, follow=True
    )
    assert "longer than 2000 characters" in resp.content.decode()
    assert not RunSignoff.objects.exists()


def test_a_run_without_files_cannot_be_signed_off(operator, client_of):
    resp = client_of(operator()).post("/runs/999/signoff/", {"verdict": "good"})
    assert resp.status_code == 404
    assert not RunSignoff.objects.exists()


def test_the_sign_off_address_takes_only_posts(run_5001, operator, client_of):
    assert client_of(operator()).get("/runs/5001/signoff/").status_code == 405


def test_people_without_a_role_see_no_sign_off_form(run_5001, settings, client):
    settings.P3S = {**settings.P3S, "PUBLIC_PAGES": True}
    html = client.get("/runs/5001/").content.decode()
    assert 'id="signoff-form"' not in html
    assert "Operators and experts sign runs off" in html
