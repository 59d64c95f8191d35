"""The job page shows the full log: a page of numbered lines, paging, a search that finds
lines by number, the whole text and the download; a viewer with public pages reads it too."""

from __future__ import annotations

import gzip
import re

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from p3s.front.views.joblog import LOG_PAGE_LINES
from tests.logs.conftest import LOG, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def page_of(running):
    """(job id, a logged-in operator's browser client) with the job's log stored."""
    pilot, job_id = running
    assert upload(pilot, job_id, cut=99).status_code == 201
    user = User.objects.create_user("olga", password="x")
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    browser = Client()
    browser.force_login(user)
    return job_id, browser


def lines_shown(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<span id="L(\d+)"', html)]


def test_the_page_shows_the_first_lines_and_pages_on(page_of):
    job_id, browser = page_of
    html = browser.get(f"/jobs/{job_id}/").content.decode()
    assert lines_shown(html) == list(range(1, LOG_PAGE_LINES + 1))
    assert "line 00000 of the payload" in html and "ADC 7 saturated" not in html
    assert "99 bytes cut from the middle" in html
    nxt = re.search(r'id="log-next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    html = browser.get(nxt).content.decode()
    assert lines_shown(html)[0] == LOG_PAGE_LINES + 1
    last = browser.get(f"/jobs/{job_id}/?log_from=99999").content.decode()
    assert lines_shown(last)[-1] == 3001 and "ADC 7 saturated" in last


def test_search_finds_the_line_and_links_to_its_page(page_of):
    job_id, browser = page_of
    html = browser.get(f"/jobs/{job_id}/?log_q=saturated").content.decode()
    found = re.search(r'<a href="([^"]+)">3001</a>: ERROR: ADC 7 saturated', html)
    assert found, html[html.find('id="log"') :][:3000]
    assert "1 matching line" in html
    target = browser.get(found.group(1).replace("&amp;", "&").split("#")[0]).content.decode()
    assert 3001 in lines_shown(target)
    none = browser.get(f"/jobs/{job_id}/?log_q=no+such+text").content.decode()
    assert "no line contains it" in none


def test_show_all_and_download(page_of):
    job_id, browser = page_of
    html = browser.get(f"/jobs/{job_id}/").content.decode()
    show_all = re.search(r'id="log-all" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    whole = browser.get(show_all)
    assert whole["Content-Type"].startswith("text/plain")
    assert b"".join(whole.streaming_content).decode() == LOG
    href = re.search(r'id="log-download" class="btn" href="([^"]+)"', html).group(1)
    down = browser.get(href.replace("&amp;", "&"))
    assert down["Content-Type"] == "application/gzip"
    assert gzip.decompress(b"".join(down.streaming_content)).decode() == LOG
    assert browser.get("/jobs/999999/log/").status_code == 404


def test_anonymous_reads_the_log_only_with_public_pages(page_of, settings):
    job_id, _ = page_of
    assert Client().get(f"/jobs/{job_id}/log/").status_code == 302  # to the login page
    settings.P3S = {**settings.P3S, "PUBLIC_PAGES": True}
    assert Client().get(f"/jobs/{job_id}/log/").status_code == 200


def test_a_job_without_a_full_log_still_shows_its_tail(running, settings):
    _, job_id = running
    settings.P3S = {**settings.P3S, "PUBLIC_PAGES": True}
    html = Client().get(f"/jobs/{job_id}/").content.decode()
    assert "Log tail" in html and 'id="log-lines"' not in html
