"""A pilot uploads a job's products in one request (POST jobs/{id}/products/batch/): stored
all or none, each item once per key, refused whole with a 400 that names the bad item."""

import io
import json

import pytest

from p3s.dqm.models import Product

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _file(body: bytes, name: str) -> io.BytesIO:
    f = io.BytesIO(body)
    f.name = name
    return f


def post_batch(pilot, job_id, items, bodies, **extra):
    data = {"items": json.dumps(items), "attempt": 1, **extra}
    for i, body in enumerate(bodies):
        data[f"file{i}"] = _file(body, f"p{i}.{'png' if body.startswith(PNG[:4]) else 'json'}")
    return pilot.post(f"/api/v1/jobs/{job_id}/products/batch/", data, format="multipart")


def items(n, prefix="k"):
    return [
        {"kind": "png", "title": "ADC RMS", "labels": {"apa": str(i)}, "key": f"{prefix}{i}"}
        for i in range(n)
    ]


def stored_files(tmp_path):
    return sorted(p for p in tmp_path.rglob("*") if p.is_file())


def test_a_batch_stores_every_product_with_its_own_slug_labels_and_file(running_job, tmp_path):
    pilot, j = running_job
    meta = items(3) + [{"kind": "json", "title": "summary", "labels": {}, "key": "s"}]
    r = post_batch(pilot, j["id"], meta, [PNG, PNG, PNG, b'{"a": 1}'])
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["replayed"] == 0 and len(body["products"]) == 4
    rows = Product.objects.filter(job_id=j["id"]).order_by("id")
    assert [p.slug for p in rows] == ["adc-rms", "adc-rms-2", "adc-rms-3", "summary"]
    assert [p.labels for p in rows][:3] == [{"apa": "0"}, {"apa": "1"}, {"apa": "2"}]
    assert [p["id"] for p in body["products"]] == [p.pk for p in rows]
    assert stored_files(tmp_path) == sorted(tmp_path / p.file.name for p in rows)


def test_a_batch_sent_again_stores_nothing_twice_and_a_new_key_in_it_is_stored(
    running_job, tmp_path
):
    pilot, j = running_job
    assert post_batch(pilot, j["id"], items(2), [PNG, PNG]).status_code == 201
    again = post_batch(pilot, j["id"], items(2), [PNG, PNG])
    assert again.status_code == 200 and again.json()["replayed"] == 2
    more = post_batch(pilot, j["id"], items(3), [PNG, PNG, PNG])  # k0, k1 known, k2 new
    assert more.status_code == 201 and more.json()["replayed"] == 2
    assert Product.objects.filter(job_id=j["id"]).count() == 3
    assert len(stored_files(tmp_path)) == 3


@pytest.mark.parametrize(
    ("meta", "bodies", "field"),
    [
        (items(2), [PNG, b"not a png"], "file1"),  # content against kind, second item
        (items(2), [PNG], "file1"),  # a file missing
        (items(1), [PNG, PNG], "files"),  # a file without its item
        ([{"kind": "gif", "title": "x"}], [PNG], "items"),  # bad kind
        (items(1) + items(1), [PNG, PNG], "items"),  # one key twice
        ([], [], "items"),  # empty
        (items(65), [PNG] * 65, "items"),  # too many
        ([{"kind": "png", "title": "x", "labels": {"a": "\u0000"}}], [PNG], "items"),
    ],
)
def test_a_bad_batch_is_a_400_naming_what_is_wrong_and_stores_nothing(
    running_job, tmp_path, meta, bodies, field
):
    pilot, j = running_job
    r = post_batch(pilot, j["id"], meta, bodies)
    assert r.status_code == 400, r.content
    assert field in json.dumps(r.json()), r.json()
    assert not Product.objects.filter(job_id=j["id"]).exists()
    assert stored_files(tmp_path) == []


def test_a_batch_from_an_old_attempt_or_another_pilot_is_refused_and_stores_nothing(
    running_job, new_pilot, tmp_path
):
    pilot, j = running_job
    r = post_batch(pilot, j["id"], items(1), [PNG], attempt=2)
    assert r.status_code == 409, r.content
    other = new_pilot()
    assert post_batch(other, j["id"], items(1), [PNG]).status_code in (403, 409)
    assert not Product.objects.filter(job_id=j["id"]).exists()
    assert stored_files(tmp_path) == []


def test_a_batch_needs_a_pilot_token(running_job, operator):
    _, j = running_job
    r = post_batch(operator, j["id"], items(1), [PNG])
    assert r.status_code == 403
