"""`p3s_load_dags` (run by `make migrate` and the demo at every start) creates what is
missing and never undoes an expert's work; `--force` does, and says so in an event."""

from io import StringIO

import pytest
from django.core.management import call_command

from p3s.dags import flow, spec
from p3s.dags.models import DagTemplate, StageSettings, TemplateEvent

pytestmark = pytest.mark.django_db


def load(*args: str) -> str:
    out = StringIO()
    call_command("p3s_load_dags", *args, stdout=out)
    return out.getvalue()


def expert_edits_diag() -> None:
    """Disable diag, raise a timeout, and change its graph (drop stage d)."""
    template = DagTemplate.objects.get(name="diag")
    dag = flow.spec_of(template).to_dict()
    del dag["stages"]["d"]
    dag["enabled"] = False
    dag["stages"]["a"]["timeout"] = 999.0
    flow.apply_spec(spec.validate(dag), actor="expert:anna")


def test_a_reload_creates_missing_templates_and_keeps_an_experts_edits():
    assert "diag: created" in load()
    expert_edits_diag()
    out = load()
    assert "diag: kept as it is" in out
    template = DagTemplate.objects.get(name="diag")
    assert template.enabled is False
    assert template.current_version.number == 2
    assert sorted(template.current_version.graph["stages"]) == ["a", "b", "c"]
    assert StageSettings.objects.get(template=template, stage="a").timeout == 999.0
    assert not TemplateEvent.objects.exists()


def test_a_forced_reload_restores_the_shipped_template_and_records_it():
    load()
    expert_edits_diag()
    out = load("--force")
    assert "diag: forced: new version" in out
    template = DagTemplate.objects.get(name="diag")
    assert template.enabled is True
    assert sorted(template.current_version.graph["stages"]) == ["a", "b", "c", "d"]
    assert StageSettings.objects.get(template=template, stage="a").timeout == 60.0
    event = TemplateEvent.objects.get(template=template)
    assert event.actor == "p3s_load_dags --force" and "diag.yaml" in event.detail
