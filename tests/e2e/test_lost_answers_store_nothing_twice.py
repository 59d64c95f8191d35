"""A real pilot transport against real gunicorn through a proxy that loses the first answer
to every delivery (after the server committed): the retries store nothing twice. And five
identical uploads in parallel make one product."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest

from pilot import send
from pilot.errors import ClientError, Unreachable
from pilot.transport import HttpTransport, Retrying
from tests.e2e.lossy_proxy import LossyProxy

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def claimed(live_p3s):
    """A diag job claimed and running by a pilot registered over HTTP: (transport, job)."""
    body = {
        "url": f"file:///e2e/lost-{uuid.uuid4().hex[:6]}.dat",
        "stream": "diag",
        "run": 11,
        "timestamp": datetime.now(UTC).isoformat(),
    }
    assert live_p3s.post("/api/v1/files/", role="daq", json=body).status_code == 201
    direct = HttpTransport(live_p3s.url, live_p3s.tokens["pilot"])
    pilot = direct.register({"host": "lossy", "queues": ["default"]})
    job = direct.claim(pilot["id"], 0, None)
    assert job is not None
    direct.report(job["id"], {"state": "running", "attempt": job["attempt"]})
    return direct, job


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_deliveries_whose_answers_are_lost_are_stored_once(live_p3s, claimed, tmp_path):
    direct, job = claimed
    seen: Counter[str] = Counter()

    def first_answer_lost(line: str) -> bool:
        seen[line] += 1
        return "/jobs/" in line and seen[line] == 1

    proxy = LossyProxy(port_of(live_p3s.url), first_answer_lost)
    lossy = HttpTransport(proxy.url, live_p3s.tokens["pilot"])
    lossy.pilot_key = direct.pilot_key
    transport = Retrying(lossy, give_up=30, backoff_base=0.05, backoff_cap=0.2)
    product = tmp_path / "summary.json"
    product.write_text('{"rms": 1.5}')
    attempt, jid = job["attempt"], job["id"]

    transport.upload_product(jid, product, "json", "Summary", {"apa": "1"}, "j-p0", attempt)
    transport.post_metrics(jid, [{"name": "rms", "value": 1.5, "labels": {}}], "j-m0", attempt)
    finished = {
        "state": "finished",
        "attempt": attempt,
        "metrics": [{"name": "peds", "value": 900.0, "labels": {"apa": "1"}}],
    }
    assert transport.report(jid, finished)["state"] == "finished"
    proxy.close()

    assert len(proxy.dropped) == 3, proxy.dropped  # each delivery lost its first answer once
    products = live_p3s.get(f"/api/v1/products/?job={jid}").json()
    metrics = live_p3s.get(f"/api/v1/metrics/?job={jid}").json()
    items = products["results"] if isinstance(products, dict) else products
    rows = metrics["results"] if isinstance(metrics, dict) else metrics
    assert len(items) == 1
    assert sorted(m["name"] for m in rows) == ["peds", "rms"]
    jobs = live_p3s.get(f"/api/v1/jobs/?dagrun={job['dagrun']}").json()["results"]
    assert sorted(j["stage"] for j in jobs) == ["a", "b", "c"]  # children created once
    files = [p for p in (live_p3s.workdir / "data" / "products").rglob("*") if p.is_file()]
    assert len(files) == 1 and f"job{jid}/attempt{attempt}/" in str(files[0])


def test_five_identical_parallel_uploads_make_one_product(live_p3s, claimed, tmp_path):
    direct, job = claimed
    product = tmp_path / "plot.json"
    product.write_text('{"x": [1, 2, 3]}')
    errors: list[BaseException] = []
    start = threading.Barrier(5)

    def upload():
        t = HttpTransport(live_p3s.url, live_p3s.tokens["pilot"])
        t.pilot_key = direct.pilot_key
        start.wait()
        try:
            t.upload_product(job["id"], product, "json", "Plot", {}, "same-key", job["attempt"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    products = live_p3s.get(f"/api/v1/products/?job={job['id']}").json()
    items = products["results"] if isinstance(products, dict) else products
    assert len(items) == 1
    files = [p for p in (live_p3s.workdir / "data" / "products").rglob("*") if p.is_file()]
    assert len(files) == 1


def _items(jid: int, attempt: int, paths) -> list[dict]:
    return [
        {
            "op": "product",
            "path": str(p),
            "kind": "json",
            "title": p.stem,
            "labels": {"n": str(i)},
            "key": f"j{jid}-b{i}",
            "attempt": attempt,
        }
        for i, p in enumerate(paths)
    ]


def _stored(live_p3s, jid: int) -> list[dict]:
    products = live_p3s.get(f"/api/v1/products/?job={jid}").json()
    return products["results"] if isinstance(products, dict) else products


def test_a_batch_whose_answer_is_lost_is_stored_once(live_p3s, claimed, tmp_path):
    direct, job = claimed
    jid, attempt = job["id"], job["attempt"]
    paths = []
    for i in range(5):
        paths.append(tmp_path / f"summary{i}.json")
        paths[-1].write_text(f'{{"rms": {i}}}')
    proxy = LossyProxy(port_of(live_p3s.url), lambda line: "/products/batch/" in line)
    lossy = HttpTransport(proxy.url, live_p3s.tokens["pilot"])
    lossy.pilot_key = direct.pilot_key
    items = _items(jid, attempt, paths)
    with pytest.raises(Unreachable):  # the server stored the batch; its answer was lost
        lossy.upload_products(jid, items, attempt)
    proxy.close()
    first = _stored(live_p3s, jid)
    assert len(first) == 5  # stored by the request whose answer was lost
    send.send_products(direct, jid, items)  # the spool sends it again
    stored = _stored(live_p3s, jid)
    assert sorted(p["title"] for p in stored) == [p.stem for p in paths]
    assert {p["id"] for p in stored} == {p["id"] for p in first}
    files = [p for p in (live_p3s.workdir / "data" / "products").rglob(f"job{jid}/*/*")]
    assert len(files) == 5


def test_a_batch_with_one_bad_product_is_sent_one_by_one_and_loses_only_that_one(
    live_p3s, claimed, tmp_path
):
    direct, job = claimed
    jid, attempt = job["id"], job["attempt"]
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text('{"ok": 1}')
    bad.write_text("not json at all")
    items = _items(jid, attempt, [good, bad])
    with pytest.raises(ClientError):  # the batch alone is refused whole, naming the file
        direct.upload_products(jid, items, attempt)
    assert _stored(live_p3s, jid) == []
    send.send_products(direct, jid, items)  # as the pilot does: refused, then one by one
    assert [p["title"] for p in _stored(live_p3s, jid)] == ["good"]
