"""Shared by the browser tests: headless Chromium through playwright, screenshots, logging in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from .conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SHOTS = Path(settings.VAR_DIR) / "screenshots"
# Generous waits: the machine is shared, and BokehJS is about a megabyte of JavaScript.
WAIT_MS = 20_000

browser_marks = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"{CHROMIUM} is missing: run scripts/ensure-chromium.sh (apt-get install chromium)",
    ),
]


@pytest.fixture
def browser(monkeypatch):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    # playwright's sync API runs an event loop in this thread; our ORM calls here are plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # The live server's request threads must not keep database sessions open after the test
    # (PostgreSQL refuses to drop a test database that still has sessions).
    monkeypatch.setitem(connections.databases["default"], "CONN_MAX_AGE", 0)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()
            # Database connections opened while playwright's loop ran belong to its context:
            # close them here, or PostgreSQL keeps a session that blocks dropping the test database.
            connections.close_all()


def new_page(browser, width: int = 1400, height: int = 900):
    """A fresh context and page with the generous waits; ``errors`` collects page errors."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/")
    assert "/accounts/login/" in page.url  # anonymous: sent to the login page
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
