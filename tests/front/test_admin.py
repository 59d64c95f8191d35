"""The expert admin: DAG templates as YAML (validated, previewed, imported, exported), operator
actions through the domain functions, tokens shown once, DQM rules."""

from __future__ import annotations

import pytest
import yaml
from django.contrib.messages import get_messages

from p3s.accounts.models import ApiToken, hash_key
from p3s.dags.models import DagTemplate
from p3s.dqm.models import AlarmRule, RetentionRule
from p3s.jobs.models import Job, JobEvent

from .conftest import TEMPLATE_YAML

CYCLE_YAML = TEMPLATE_YAML.replace(
    "adc: {payload: diag, args: {seconds: 0}}", "adc: {payload: diag, parents: [vis]}"
)


@pytest.fixture
def world(dqm_world):
    return dqm_world(files=1, fail_last=True)


@pytest.fixture
def admin_client(expert, client_of):
    return client_of(expert())


def change_url(template):
    return f"/admin/dags/dagtemplate/{template.pk}/change/"


def test_every_admin_list_and_the_index_open_for_an_expert(world, admin_client):
    html = admin_client.get("/admin/").content.decode()
    for name in ("DAG templates", "Jobs", "Pilots", "Alarm rules", "Retention rules", "Api tokens"):
        assert name.lower() in html.lower()
    for url in (
        "dags/dagtemplate",
        "dags/dagrun",
        "dags/datafile",
        "jobs/job",
        "pilots/pilot",
        "accounts/apitoken",
        "dqm/product",
        "dqm/metric",
        "dqm/alarmrule",
        "dqm/alarm",
        "dqm/retentionrule",
    ):
        assert admin_client.get(f"/admin/{url}/").status_code == 200, url
        assert admin_client.get(f"/admin/{url}/?q=1").status_code == 200, url
    job = world.jobs[0]
    html = admin_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "Job events" in html and "dispatched" in html  # events inline, read-only


def test_the_template_form_shows_the_current_yaml_and_the_drawn_graph(world, admin_client):
    html = admin_client.get(change_url(world.template)).content.decode()
    assert "name: tpc-dqm" in html and "<svg" in html and 'data-stage="vis"' in html
    assert "Export YAML" in html


def test_editing_the_yaml_makes_a_new_version_through_apply_spec(world, admin_client):
    text = TEMPLATE_YAML.replace(
        "fft: {payload: diag, parents: [adc]}", "fft: {payload: diag, parents: [adc], priority: 99}"
    )
    text += "  summary: {payload: diag, parents: [vis]}\n"
    resp = admin_client.post(change_url(world.template), {"yaml": text, **inline_management()})
    assert resp.status_code == 302, resp.content.decode()[:3000]
    t = DagTemplate.objects.get(name="tpc-dqm")
    assert t.current_version.number == 2 and "summary" in t.current_version.graph["order"]
    assert t.stage_settings.get(stage="fft").priority == 99
    assert t.current_version.created_by == "user:eddie"


def inline_management():
    """The management forms of the two read-only inlines."""
    data = {}
    for prefix in ("stage_settings", "versions"):
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": "0",
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "0",
            }
        )
    return data


def test_a_cycle_is_refused_with_the_reason_next_to_the_field(world, admin_client):
    resp = admin_client.post(
        change_url(world.template), {"yaml": CYCLE_YAML, **inline_management()}
    )
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "form a cycle" in html and "errorlist" in html
    assert DagTemplate.objects.get(name="tpc-dqm").current_version.number == 1


def test_renaming_in_the_yaml_is_refused(world, admin_client):
    resp = admin_client.post(
        change_url(world.template),
        {"yaml": TEMPLATE_YAML.replace("tpc-dqm", "other"), **inline_management()},
    )
    assert resp.status_code == 200 and "this is the template" in resp.content.decode()


def test_adding_a_template_in_the_admin(db, admin_client):
    text = TEMPLATE_YAML.replace("tpc-dqm", "bi-dqm").replace("stream: tpc", "stream: bi")
    resp = admin_client.post("/admin/dags/dagtemplate/add/", {"yaml": text, **inline_management()})
    assert resp.status_code == 302
    assert DagTemplate.objects.get(name="bi-dqm").trigger_stream == "bi"


def test_the_live_preview_draws_or_explains(world, admin_client):
    ok = admin_client.post("/admin/dags/dagtemplate/preview/", {"yaml": TEMPLATE_YAML}).json()
    assert ok["ok"] and "<svg" in ok["svg"]
    bad = admin_client.post("/admin/dags/dagtemplate/preview/", {"yaml": CYCLE_YAML}).json()
    assert not bad["ok"] and "cycle" in bad["error"]


def test_export_and_import_round_trip(world, admin_client):
    resp = admin_client.get(f"/admin/dags/dagtemplate/{world.template.pk}/export/")
    assert resp["Content-Type"].startswith("application/yaml")
    docs = list(yaml.safe_load_all(resp.content))
    assert docs[0]["name"] == "tpc-dqm"
    docs[0]["name"] = "tpc-copy"
    second = dict(docs[0], name="tpc-copy2")
    resp = admin_client.post(
        "/admin/dags/dagtemplate/import/", {"yaml": yaml.safe_dump_all([docs[0], second])}
    )
    assert resp.status_code == 302
    assert set(DagTemplate.objects.values_list("name", flat=True)) == {
        "tpc-dqm",
        "tpc-copy",
        "tpc-copy2",
    }
    action = admin_client.post(
        "/admin/dags/dagtemplate/",
        {
            "action": "export_yaml",
            "_selected_action": list(DagTemplate.objects.values_list("pk", flat=True)),
        },
    )
    assert len(list(yaml.safe_load_all(action.content))) == 3


def test_an_import_with_one_bad_document_applies_nothing(world, admin_client):
    good = TEMPLATE_YAML.replace("tpc-dqm", "fine")
    resp = admin_client.post(
        "/admin/dags/dagtemplate/import/",
        {"yaml": good + "---\n" + CYCLE_YAML.replace("tpc-dqm", "loop")},
    )
    assert resp.status_code == 200
    assert "document 2 (loop)" in resp.content.decode() and "cycle" in resp.content.decode()
    assert not DagTemplate.objects.filter(name__in=["fine", "loop"]).exists()


def test_operators_cannot_edit_dag_templates(world, operator, client_of):
    c = client_of(operator())
    assert c.get(change_url(world.template)).status_code == 302  # to the admin login
    resp = c.post(
        change_url(world.template),
        {"yaml": TEMPLATE_YAML.replace("priority", "x"), **inline_management()},
    )
    assert resp.status_code == 302 and "/admin/login/" in resp["Location"]
    assert c.post("/admin/dags/dagtemplate/preview/", {"yaml": TEMPLATE_YAML}).status_code == 302
    assert (
        c.post(
            "/admin/dags/dagtemplate/import/", {"yaml": TEMPLATE_YAML.replace("tpc-dqm", "x")}
        ).status_code
        == 302
    )
    assert not DagTemplate.objects.filter(name="x").exists()


def test_a_staff_account_in_no_role_group_is_still_an_expert_but_operators_are_not(
    world, operator, client_of
):
    # operators (not staff) never get into the admin, even with the model permission
    from django.contrib.auth.models import Permission

    user = operator("opal")
    user.user_permissions.add(Permission.objects.get(codename="change_dagtemplate"))
    assert client_of(user).get("/admin/dags/dagtemplate/").status_code == 302


def test_job_admin_actions_go_through_the_domain_functions(world, admin_client):
    failed = Job.objects.get(state="failed")
    resp = admin_client.post(
        "/admin/jobs/job/", {"action": "retry", "_selected_action": [failed.pk]}
    )
    assert resp.status_code == 302
    failed.refresh_from_db()
    assert failed.state == "waiting"
    event = JobEvent.objects.filter(job=failed).last()
    assert event.actor == "user:eddie" and event.reason == "retried by an operator"
    admin_client.post(
        "/admin/jobs/job/",
        {"action": "set_priority", "priority": "77", "_selected_action": [failed.pk]},
    )
    failed.refresh_from_db()
    assert failed.priority == 77
    admin_client.post("/admin/jobs/job/", {"action": "cancel", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert failed.state == "cancelled"
    finished = Job.objects.filter(state="finished").first()
    resp = admin_client.post(
        "/admin/jobs/job/", {"action": "cancel", "_selected_action": [finished.pk]}, follow=True
    )
    assert any(
        "only waiting, dispatched or running" in str(m) for m in get_messages(resp.wsgi_request)
    )
    assert admin_client.get(f"/admin/jobs/job/{finished.pk}/delete/").status_code == 403


def test_a_new_token_shows_its_key_once(db, admin_client):
    resp = admin_client.post(
        "/admin/accounts/apitoken/add/", {"name": "daq-np04", "role": "daq"}, follow=True
    )
    html = resp.content.decode()
    assert "new-token-key" in html
    token = ApiToken.objects.get(name="daq-np04")
    key = html.split("<code id='new-token-key'>")[1].split("</code>")[0]
    assert token.key_hash == hash_key(key) and key.startswith(token.prefix)
    html = admin_client.get(f"/admin/accounts/apitoken/{token.pk}/change/").content.decode()
    assert key not in html and token.key_hash not in html


def test_alarm_and_retention_rules_are_validated(db, admin_client):
    resp = admin_client.post(
        "/admin/dqm/alarmrule/add/",
        {
            "name": "noisy-x",
            "metric": "adc_rms",
            "labels": '{"plane": "x"}',
            "comparison": "gt",
            "threshold": "8",
            "severity": "warning",
            "enabled": "on",
            "webhook": "",
            "description": "",
        },
    )
    assert resp.status_code == 302
    assert AlarmRule.objects.get(name="noisy-x").labels == {"plane": "x"}
    resp = admin_client.post(
        "/admin/dqm/alarmrule/add/",
        {
            "name": "bad",
            "metric": "m",
            "labels": '["x"]',
            "comparison": "gt",
            "threshold": "1",
            "severity": "warning",
        },
    )
    assert resp.status_code == 200 and "must be a JSON object" in resp.content.decode()
    resp = admin_client.post(
        "/admin/dqm/retentionrule/add/",
        {"target": "metrics", "days": "30", "kind": "png", "enabled": "on"},
    )
    assert resp.status_code == 200 and "products only" in resp.content.decode()
    resp = admin_client.post(
        "/admin/dqm/retentionrule/add/",
        {"target": "products", "days": "30", "kind": "png", "enabled": "on"},
    )
    assert resp.status_code == 302 and RetentionRule.objects.count() == 1


def test_disabling_a_rule_clears_its_alarms(world, admin_client):
    from p3s.dqm.models import Alarm

    rule = AlarmRule.objects.get(name="adc-rms-high")
    assert Alarm.objects.filter(rule=rule, state="open").count() == 1
    admin_client.post("/admin/dqm/alarmrule/", {"action": "disable", "_selected_action": [rule.pk]})
    assert Alarm.objects.filter(rule=rule, state="open").count() == 0
    assert not AlarmRule.objects.get(pk=rule.pk).enabled


def test_the_webhook_test_action_says_whether_it_worked(world, admin_client):
    rule = AlarmRule.objects.get(name="adc-rms-high")
    rule.webhook = "http://127.0.0.1:9/nobody"
    rule.save()
    resp = admin_client.post(
        "/admin/dqm/alarmrule/",
        {"action": "test_webhook", "_selected_action": [rule.pk]},
        follow=True,
    )
    assert any("did not accept" in str(m) for m in get_messages(resp.wsgi_request))


def test_the_person_command_makes_operators_and_experts(db, monkeypatch):
    from django.contrib.auth.models import User
    from django.core.management import call_command

    monkeypatch.setenv("P3S_PASSWORD", "a-long-password")
    call_command("p3s_person", "opal", role="operator")
    call_command("p3s_person", "exa", role="expert")
    assert User.objects.get(username="opal").groups.filter(name="operator").exists()
    assert User.objects.get(username="exa").is_staff
    assert User.objects.get(username="exa").check_password("a-long-password")


def test_records_the_system_writes_are_read_only_even_for_experts(world, admin_client):
    job = Job.objects.filter(state="finished").first()
    resp = admin_client.post(
        f"/admin/jobs/job/{job.pk}/change/", {"state": "failed", "priority": "1"}
    )
    assert resp.status_code == 403
    assert Job.objects.get(pk=job.pk).state == "finished"
    assert admin_client.get("/admin/jobs/job/add/").status_code == 403
    assert admin_client.get("/admin/pilots/pilot/add/").status_code == 403
