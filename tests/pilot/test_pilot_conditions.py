"""The pilot's conditions cache: one download per version, 304s afterwards, the cached copy
when the server is gone, and a job that still runs when there is nothing at all."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from conditions_payload import write_payload_dist
from pilot_helpers import run_one

from pilot.conditions import Answer, ConditionsCache, HttpFetch
from pilot.errors import Unreachable

SERVER = "http://p3s.example"
URL = f"{SERVER}/api/v1/conditions/bands/?version=3"


class Conditions:
    """Condition bodies by URL with ETags; answers as the server does (200, 304), or not at all."""

    def __init__(self) -> None:
        self.bodies: dict[str, tuple[str, bytes]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.down = False

    def put(self, url: str, version: int, data: dict) -> None:
        body = json.dumps({"name": "bands", "version": version, "data": data}).encode()
        self.bodies[url] = (f'"v{version}"', body)

    def __call__(self, url: str, headers: dict[str, str]) -> Answer:
        self.requests.append((url, headers))
        if self.down:
            raise Unreachable(f"no answer from {url}")
        if url not in self.bodies:
            return Answer(404, "", b'{"detail": "not found"}')
        etag, body = self.bodies[url]
        if headers.get("If-None-Match") == etag:
            return Answer(304, etag)
        return Answer(200, etag, body)


@pytest.fixture
def server() -> Conditions:
    s = Conditions()
    s.put(URL, 3, {"planes": {"u": {}}})
    return s


@pytest.fixture
def ccache(server, tmp_path) -> ConditionsCache:
    return ConditionsCache(tmp_path / "work" / "conditions-cache", server, SERVER)


def test_the_first_fetch_downloads_and_the_next_asks_with_the_etag_and_gets_304(ccache, server):
    first = ccache.get(URL)
    assert json.loads(first.read_text())["version"] == 3
    assert server.requests[0] == (URL, {})
    second = ccache.get(URL)
    assert second == first
    assert server.requests[1] == (URL, {"If-None-Match": '"v3"'})
    assert ccache.counts.as_dict() == {"downloaded": 1, "not_modified": 1, "stale": 0, "missing": 0}


def test_a_changed_etag_brings_the_new_body(ccache, server):
    ccache.get(URL)
    server.put(URL, 4, {"planes": {"x": {}}})
    path = ccache.get(URL)
    assert json.loads(path.read_text())["version"] == 4 and ccache.counts.downloaded == 2


def test_the_job_json_names_local_copies_of_the_conditions(ccache, tmp_path):
    jobdir = tmp_path / "job-1"
    spec = ccache.localise({"id": 1, "conditions": {"bands": URL}}, jobdir)
    assert spec["conditions"] == {"bands": str(jobdir / "conditions" / "bands.json")}
    assert json.loads(Path(spec["conditions"]["bands"]).read_text())["version"] == 3


def test_with_the_server_gone_the_cached_copy_is_used_and_logged(ccache, server, caplog):
    ccache.get(URL)
    server.down = True
    assert json.loads(ccache.get(URL).read_text())["version"] == 3
    assert ccache.counts.stale == 1
    assert "using the cached copy" in caplog.text


def test_with_nothing_cached_and_no_server_the_job_runs_without_the_condition(tmp_path, caplog):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = f"http://127.0.0.1:{port}"
    ccache = ConditionsCache(tmp_path / "cc", HttpFetch("t", (0.5, 0.5)), server)
    url = f"{server}/api/v1/conditions/bands/?version=1"
    spec = ccache.localise({"id": 7, "conditions": {"bands": url}}, tmp_path / "job-7")
    assert spec["conditions"] == {}
    assert ccache.counts.missing == 1
    assert "no cached copy: the payload uses its defaults" in caplog.text


def test_a_refusal_falls_back_to_the_cached_copy(ccache, server):
    ccache.get(URL)
    del server.bodies[URL]
    assert ccache.get(URL) is not None and ccache.counts.stale == 1


def test_a_url_on_another_host_is_fetched_from_the_configured_server(ccache, server):
    ccache.get("http://elsewhere.example:9999/api/v1/conditions/bands/?version=3")
    assert server.requests[-1][0] == URL


@pytest.fixture
def condread(tmp_path, monkeypatch) -> Path:
    site = write_payload_dist(tmp_path / "condsite")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    )
    return site


def test_a_pilots_payload_reads_the_conditions_and_the_second_job_downloads_nothing(
    fake, make_pilot, server, condread, tmp_path
):
    first = fake.add_job("condread", conditions={"bands": URL})
    second = fake.add_job("condread", conditions={"bands": URL})
    pilot = make_pilot(fake)
    pilot._conditions = ConditionsCache(pilot.config.workdir / "conditions-cache", server, SERVER)

    assert run_one(pilot) == "finished" and run_one(pilot) == "finished"

    metrics = dict(fake.calls.metrics)
    for job in (first, second):
        values = {(m["name"], m["labels"].get("condition")): m["value"] for m in metrics[job]}
        assert values == {("condition_version", "bands"): 3, ("conditions_given", None): 1}
    assert pilot.conditions.counts.downloaded == 1
    assert pilot.conditions.counts.not_modified == 1


def test_a_job_without_conditions_fetches_nothing(fake, make_pilot, server, condread):
    job = fake.add_job("condread")
    pilot = make_pilot(fake)
    pilot._conditions = ConditionsCache(pilot.config.workdir / "conditions-cache", server, SERVER)
    assert run_one(pilot) == "finished"
    assert server.requests == []
    assert {m["name"]: m["value"] for m in dict(fake.calls.metrics)[job]} == {"conditions_given": 0}


def test_once_the_server_is_found_gone_a_job_asks_it_no_more(ccache, server, tmp_path):
    urls = {n: f"{SERVER}/api/v1/conditions/{n}/?version=1" for n in ("a", "b", "c")}
    for url in urls.values():
        server.put(url, 1, {})
    ccache.localise({"id": 1, "conditions": urls}, tmp_path / "job-1")
    server.down = True
    server.requests.clear()
    spec = ccache.localise({"id": 2, "conditions": urls}, tmp_path / "job-2")
    assert len(server.requests) == 1
    assert sorted(spec["conditions"]) == ["a", "b", "c"] and ccache.counts.stale == 3
