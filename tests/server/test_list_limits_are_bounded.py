"""Huge limit and offset values on API lists are clamped, never a 500 (SQLite binds 64 bits)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_a_limit_beyond_64_bits_is_clamped_to_the_maximum_page(operator):
    r = operator.get("/api/v1/pilots/?limit=2124865141641695734005760&offset=-904")
    assert r.status_code == 200 and r.json()["results"] == []


def test_an_offset_beyond_64_bits_gives_an_empty_page(operator):
    r = operator.get("/api/v1/jobs/?limit=5&offset=99999999999999999999999")
    assert r.status_code == 200 and r.json()["results"] == []
