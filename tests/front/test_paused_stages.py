"""Stages the circuit breaker paused are on the dashboard with their reason, and an expert
resumes them from the admin (an action on DAG templates), recorded as a template event."""

from __future__ import annotations

import pytest
from django.utils import timezone

from p3s.dags.models import StageSettings, TemplateEvent

REASON = "paused automatically: 12 failures against 3 successes in the last 1 h (limit 10)"


@pytest.fixture
def world(dqm_world):
    return dqm_world(files=1, fail_last=True)


def pause(world, stage: str = "sig") -> StageSettings:
    s = StageSettings.objects.get(template=world.template, stage=stage)
    s.paused, s.paused_reason, s.paused_at = True, REASON + "; last: exit 1", timezone.now()
    s.save()
    return s


def test_the_dashboard_shows_no_panel_while_nothing_is_paused(world, operator, client_of):
    page = client_of(operator()).get("/")
    assert page.status_code == 200
    assert b'id="paused-stages"' not in page.content


def test_a_paused_stage_is_on_the_dashboard_with_its_reason(world, operator, client_of):
    pause(world)
    page = client_of(operator()).get("/").content.decode()
    assert 'id="paused-stages"' in page
    panel = page.split('id="paused-stages"', 1)[1].split("</table>", 1)[0]
    assert "tpc-dqm" in panel and "<b>sig</b>" in panel
    assert REASON in panel
    assert "/api/v1/dags/tpc-dqm/resume/" in panel  # an operator is told how to resume


def test_an_expert_resumes_paused_stages_from_the_admin_and_it_is_an_event(
    world, expert, client_of
):
    pause(world, "sig")
    pause(world, "fft")
    client = client_of(expert("eddie"))
    assert "resume in the admin" in client.get("/").content.decode()
    r = client.post(
        "/admin/dags/dagtemplate/",
        {"action": "resume_paused", "_selected_action": [world.template.pk]},
        follow=True,
    )
    assert r.status_code == 200
    assert "Resumed: tpc-dqm/fft, tpc-dqm/sig" in r.content.decode()
    assert not StageSettings.objects.filter(template=world.template, paused=True).exists()
    events = TemplateEvent.objects.filter(template=world.template, action="stage-resumed")
    assert sorted(e.detail for e in events) == ["stage fft", "stage sig"]
    assert {e.actor for e in events} == {"user:eddie"}
    assert b'id="paused-stages"' not in client.get("/").content
    again = client.post(
        "/admin/dags/dagtemplate/",
        {"action": "resume_paused", "_selected_action": [world.template.pk]},
        follow=True,
    )
    assert "No paused stage" in again.content.decode()
