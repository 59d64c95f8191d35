"""Security settings: `manage.py check --deploy` has nothing to say about security with the
production environment (docs/deployment.md), cookies are Secure and plain http redirected
behind TLS, and every page carries a Content-Security-Policy whose inline scripts need the
response's nonce (no template has an inline handler or an unmarked inline script)."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PRODUCTION = {
    "P3S_TLS": "1",
    "P3S_ALLOWED_HOSTS": "p3s.example.org",
    "P3S_CSRF_TRUSTED_ORIGINS": "https://p3s.example.org",
}


def production_env(tmp_path: Path) -> dict[str, str]:
    key = tmp_path / "secret_key"
    key.write_text(secrets.token_urlsafe(50))
    return {
        "PATH": "/usr/bin:/bin",
        "P3S_SECRET_KEY_FILE": str(key),
        "P3S_VAR_DIR": str(tmp_path / "var"),
        "P3S_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **PRODUCTION,
    }


def test_check_deploy_has_no_security_warning_in_production_and_says_what_is_missing_without_tls(
    tmp_path,
):
    def check(env):
        return subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "check", "--deploy"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    prod = check(production_env(tmp_path))
    assert prod.returncode == 0, prod.stderr
    out = prod.stdout + prod.stderr
    assert not re.findall(r"\((security|p3s)\.\w+\)", out), out
    plain = production_env(tmp_path)
    del plain["P3S_TLS"]
    found = set(re.findall(r"\(security\.(W\d+)\)", (r := check(plain)).stdout + r.stderr))
    assert found == {"W004", "W008", "W012", "W016"}  # HSTS, redirect, Secure cookies


BEHIND_TLS = """
import django
django.setup()
from django.test import Client
c = Client()
proxied = c.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https", HTTP_HOST="p3s.example.org")
print("status", proxied.status_code)
print("secure", proxied.cookies["csrftoken"]["secure"])
print("samesite", proxied.cookies["csrftoken"]["samesite"])
print("hsts", proxied.headers.get("Strict-Transport-Security"))
plain = c.get("/accounts/login/", HTTP_HOST="p3s.example.org")
print("plain", plain.status_code, plain.headers.get("Location"))
health = c.get("/healthz", HTTP_HOST="p3s.example.org")
print("health", health.status_code)
"""


def test_behind_tls_cookies_are_secure_hsts_is_sent_and_plain_http_is_redirected(tmp_path):
    env = {**production_env(tmp_path), "DJANGO_SETTINGS_MODULE": "p3s.settings"}
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], env=env, cwd=ROOT, check=True
    )
    r = subprocess.run(
        [sys.executable, "-c", BEHIND_TLS], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    got = dict(line.split(" ", 1) for line in r.stdout.strip().splitlines())
    assert got["status"] == "200"
    assert got["secure"] == "True" and got["samesite"] == "Lax"
    assert got["hsts"].startswith("max-age=31536000") and "includeSubDomains" in got["hsts"]
    assert got["plain"] == "301 https://p3s.example.org/accounts/login/"
    assert got["health"] in ("200", "503")  # probes speak plain http to the server: no redirect


TEMPLATES = sorted(ROOT.glob("p3s/*/templates/**/*.html"))


def test_no_template_has_an_inline_event_handler_or_an_inline_script_without_the_nonce():
    assert len(TEMPLATES) > 10
    for path in TEMPLATES:
        text = path.read_text()
        assert not re.search(r"\son[a-z]+\s*=", text), f"{path}: inline event handler"
        assert not re.search(r"javascript:", text, re.I), f"{path}: javascript: URL"
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" in tag or re.search(r'type="application/json"', tag):
                continue
            assert 'nonce="{{ request.csp_nonce }}"' in tag, f"{path}: {tag} without the nonce"


@pytest.mark.django_db
def test_pages_carry_a_policy_with_a_fresh_nonce_that_their_inline_scripts_carry(client):
    from django.contrib.auth.models import User

    User.objects.create_superuser("ed", password="pw-for-tests-only")
    client.login(username="ed", password="pw-for-tests-only")
    nonces = set()
    for path in ("/", "/jobs/", "/charts/", "/admin/", "/admin/dags/dagtemplate/add/"):
        r = client.get(path)
        assert r.status_code == 200, path
        policy = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "object-src 'none'" in policy
        assert "frame-ancestors 'self'" in policy and "'unsafe-eval'" not in policy
        (nonce,) = re.findall(r"'nonce-([^']+)'", policy)
        nonces.add(nonce)
        for tag in re.findall(rb"<script\b[^>]*>", r.content):
            if b"src=" not in tag and b"application/json" not in tag:
                assert f'nonce="{nonce}"'.encode() in tag, (path, tag)
    assert len(nonces) == 5
    assert "Content-Security-Policy" not in client.get("/api/v1/jobs/").headers
