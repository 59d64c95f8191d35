"""The expert admin's safe-change tools: the editor keeps YAML comments and dry-runs an edit,
the history page shows old and new values, diffs versions, rolls back and reprocesses."""

import pytest

from p3s.dags import flow, spec
from p3s.dags.models import DagRun, DagTemplate, DagVersion, TemplateChange
from p3s.jobs.models import Job

from .test_admin import inline_management

pytestmark = pytest.mark.django_db

V1 = """\
# comment at the top, kept
name: adm
trigger: {stream: diag}
stages:
  a: {payload: diag}   # the root
  b: {payload: diag, parents: [a], prescale: 0.5}
"""
V2 = V1.replace("prescale: 0.5", "prescale: 0.25") + "  c: {payload: diag, parents: [b]}\n"


@pytest.fixture
def adm(expert, client_of):
    c = client_of(expert())
    r = c.post("/admin/dags/dagtemplate/add/", {"yaml": V1, **inline_management()})
    assert r.status_code == 302, r.content.decode()[-2000:]
    t = DagTemplate.objects.get(name="adm")
    r = c.post(f"/admin/dags/dagtemplate/{t.pk}/change/", {"yaml": V2, **inline_management()})
    assert r.status_code == 302
    return c, DagTemplate.objects.get(name="adm")


def test_the_editor_shows_the_text_as_saved_with_comments(adm):
    c, t = adm
    page = c.get(f"/admin/dags/dagtemplate/{t.pk}/change/").content.decode()
    assert "# comment at the top, kept" in page and "# the root" in page
    assert 'id="dryrun-button"' in page


def test_the_editor_dry_run_of_an_unsaved_edit_creates_nothing(adm, announce):
    c, t = adm
    f = announce().file
    before = (Job.objects.count(), DagRun.objects.count(), TemplateChange.objects.count())
    edit = V2.replace("  c: {payload: diag, parents: [b]}\n", "")
    r = c.post(f"/admin/dags/dagtemplate/{t.pk}/dryrun/", {"yaml": edit, "file": f.pk})
    out = r.json()
    assert out["ok"] is True
    assert [j["stage"] for j in out["run"]["jobs"]] == ["a", "b"]
    assert out["diff"]["stages_removed"] == ["c"]
    assert (Job.objects.count(), DagRun.objects.count(), TemplateChange.objects.count()) == before
    bad = c.post(f"/admin/dags/dagtemplate/{t.pk}/dryrun/", {"yaml": "name: [", "file": f.pk})
    assert bad.json()["ok"] is False and "YAML" in bad.json()["error"]


def test_the_history_page_diffs_versions_and_shows_old_and_new(adm):
    c, t = adm
    page = c.get(f"/admin/dags/dagtemplate/{t.pk}/history/?a=1&b=2").content.decode()
    assert "stage added: c" in page and "edge added: b-&gt;c" in page
    assert "stage b prescale" in page and "0.5" in page and "0.25" in page
    assert "Roll back to version 1" in page


def test_rollback_from_the_history_page(adm):
    c, t = adm
    r = c.post(f"/admin/dags/dagtemplate/{t.pk}/rollback/", {"version": "1"})
    assert r.status_code == 302
    t = DagTemplate.objects.get(name="adm")
    assert t.current_version.number == 1 and DagVersion.objects.filter(template=t).count() == 2
    assert flow.spec_of(t).to_dict() == spec.load(V1).to_dict()


def test_reprocess_from_the_history_page_and_operators_cannot(adm, announce, operator, client_of):
    c, t = adm
    f = announce().file
    r = c.post(f"/admin/dags/dagtemplate/{t.pk}/reprocess/", {"what": f"file:{f.pk}"})
    assert r.status_code == 302
    assert DagRun.objects.filter(file=f, generation=1, version__number=2).exists()
    op = client_of(operator())
    assert op.post(f"/admin/dags/dagtemplate/{t.pk}/rollback/", {"version": "1"}).status_code in (
        302,
        403,
    )
    assert DagTemplate.objects.get(name="adm").current_version.number == 2
