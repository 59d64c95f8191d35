"""manage.py p3s_conditions: list the versions, import a new one from a JSON file (checked
like an admin edit), and put back shipped defaults that are missing."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from p3s.conditions import services
from p3s.conditions.models import Condition

pytestmark = pytest.mark.django_db


def test_an_imported_file_becomes_the_next_version_with_its_owner_and_run_range(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"channels": [{"apa": 4, "channel": 2000, "status": "sticky"}]}))
    call_command(
        "p3s_conditions",
        "--import",
        "bad-channels",
        str(path),
        "--owner",
        "eddie",
        "--valid-from-run",
        "500",
    )
    new = services.current_condition("bad-channels", run=500)
    assert new.version == 2 and new.owner == "eddie" and new.comment == "imported from bad.json"
    assert services.current_condition("bad-channels", run=499).version == 1
    out = capsys.readouterr().out
    assert "bad-channels v2: written" in out and "bad-channels\tv2 (current)" in out


def test_a_bad_file_is_refused_with_the_reason_and_writes_nothing(tmp_path):
    path = tmp_path / "bands.json"
    path.write_text(json.dumps({"planes": {"u": {"rms": {"warning": [9, 1], "error": [0, 20]}}}}))
    with pytest.raises(CommandError, match="low 9 must be below high 1"):
        call_command("p3s_conditions", "--import", "bands", str(path))
    (tmp_path / "broken.json").write_text("{nope")
    with pytest.raises(CommandError, match="broken.json"):
        call_command("p3s_conditions", "--import", "bands", str(tmp_path / "broken.json"))
    assert Condition.objects.filter(name="bands").count() == 1


def test_missing_shipped_defaults_are_put_back(capsys):
    Condition.objects.filter(name="bands").delete()
    call_command("p3s_conditions", "--load-defaults")
    assert "created: bands" in capsys.readouterr().out
    assert services.current_condition("bands").version == 1
