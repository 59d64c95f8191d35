"""Experts edit the check catalogue in the admin; results and sign-offs are read-only there."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from p3s.quality.catalogue import load_checks
from p3s.quality.models import Check


def person(name: str, group: str, staff: bool = False) -> Client:
    user = User.objects.create_user(name, password="pw", is_staff=staff)
    user.groups.add(Group.objects.get_or_create(name=group)[0])
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def expert(db):
    return person("eddie", "expert", staff=True)


def test_an_expert_lists_and_edits_a_check(expert):
    load_checks()
    r = expert.get("/admin/quality/check/")
    assert r.status_code == 200 and b"noise-rms-plane" in r.content
    check = Check.objects.get(name="noise-rms-plane")
    r = expert.get(f"/admin/quality/check/{check.pk}/change/")
    assert r.status_code == 200 and b"warning_high" in r.content


@pytest.mark.parametrize("path", ["/admin/quality/checkresult/", "/admin/quality/runsignoff/"])
def test_results_and_signoffs_are_read_only(expert, path):
    assert expert.get(path).status_code == 200
    assert expert.get(path + "add/").status_code == 403


def test_an_operator_cannot_open_the_check_admin(db):
    operator = person("olga", "operator")
    assert operator.get("/admin/quality/check/").status_code in (302, 403)
