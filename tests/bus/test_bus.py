"""The optional message bus against a real RabbitMQ (scripts/ensure-rabbitmq.sh, private
ports), over STOMP and AMQP: announcement by message equals announcement by REST, idempotent
on redelivery; malformed messages are parked; a consumer that drops mid-batch loses and
duplicates nothing; published events arrive once per change."""

import json
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from p3s.bus import backends, consumer, publisher
from p3s.bus.models import OutboxEvent
from p3s.dags.models import DagRun, DataFile
from p3s.jobs.models import Job
from tests.conftest import FANOUT_JOIN, free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db

FILE = {
    "url": "file:///d/run5/bus_1.h5",
    "stream": "diag",
    "run": 5,
    "subrun": 1,
    "timestamp": "2026-11-22T03:00:00Z",
    "data_ts_end": "2026-11-22T03:00:01Z",
    "events": 20,
}


@pytest.fixture(scope="module")
def broker():
    if shutil.which("rabbitmq-server") is None:
        pytest.skip("rabbitmq-server is not installed (scripts/ensure-rabbitmq.sh install)")
    # not under pytest's 0700 tmp folders: the node runs as the rabbitmq user
    d = Path(tempfile.mkdtemp(prefix="p3s-rabbitmq-"))
    d.chmod(0o755)
    amqp, stomp = free_port(), free_port()
    script = ROOT / "scripts" / "ensure-rabbitmq.sh"
    r = subprocess.run([script, "start", d, str(amqp), str(stomp)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"RabbitMQ did not start: {r.stderr.strip()[-300:]}")
    yield {
        "stomp": f"stomp://guest:guest@127.0.0.1:{stomp}",
        "amqp": f"amqp://guest:guest@127.0.0.1:{amqp}",
    }
    subprocess.run([script, "stop", d], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=["stomp", "amqp"])
def bus(request, broker, monkeypatch):
    url = broker[request.param]
    tag = uuid.uuid4().hex[:8]
    monkeypatch.setenv("P3S_BUS_URL", url)
    for key in ("FILES", "DEAD", "EVENTS"):
        monkeypatch.setenv(f"P3S_BUS_{key}", f"t.{key.lower()}.{tag}")
    opened = []

    def connect():
        b = backends.connect(url)
        opened.append(b)
        return b

    yield connect
    for b in opened:
        b.close()


def drain(b, name, wait=1.0):
    out = []
    while (m := b.get(name, wait if not out else 0.5)) is not None:
        b.ack(m)
        out.append(m)
    return out


def runs_of(url):
    f = DataFile.objects.get(url=url)
    jobs = Job.objects.filter(dagrun__file=f)
    return (
        sorted(f.dagruns.values_list("template__name", "state")),
        sorted(jobs.values_list("stage", "state", "queue")),
        (f.stream, f.run, f.subrun, f.data_ts, f.data_end, f.events),
    )


def test_a_file_message_announces_as_rest_does_and_a_redelivery_changes_nothing(bus, daq, make_dag):
    make_dag(FANOUT_JOIN)
    b = bus()
    names = consumer.names()
    b.send(names["files"], json.dumps(FILE).encode())
    b.send(names["files"], json.dumps(FILE).encode())  # delivered again
    assert consumer.consume_once(b) == 2
    rest = {**FILE, "url": "file:///d/run5/rest_1.h5"}
    assert daq.post("/api/v1/files/", rest, format="json").status_code == 201
    assert runs_of(FILE["url"]) == runs_of(rest["url"])
    assert DagRun.objects.filter(file__url=FILE["url"]).count() == 1
    assert drain(b, names["dead"]) == []


def test_malformed_messages_are_parked_with_the_reason_and_the_consumer_goes_on(bus, make_dag):
    make_dag(FANOUT_JOIN)
    b = bus()
    names = consumer.names()
    for body in (
        b"not json",
        b"[1, 2]",
        json.dumps({**FILE, "run": -1}).encode(),
        json.dumps(FILE).encode(),
    ):
        b.send(names["files"], body)
    assert consumer.consume_once(b) == 4
    assert DataFile.objects.count() == 1
    parked = drain(b, names["dead"])
    assert [m.body for m in parked][:2] == [b"not json", b"[1, 2]"]
    reasons = [m.headers["p3s-reason"] for m in parked]
    assert "not JSON" in reasons[0] and "JSON object" in reasons[1] and "run" in reasons[2]


def test_a_consumer_dropping_mid_batch_loses_and_duplicates_nothing(bus, make_dag):
    make_dag(FANOUT_JOIN)
    names = consumer.names()
    sender = bus()
    urls = [f"file:///d/run5/batch_{i}.h5" for i in range(6)]
    for u in urls:
        sender.send(names["files"], json.dumps({**FILE, "url": u}).encode())
    first = bus()
    assert consumer.consume_once(first, limit=2) == 2  # two announced and acknowledged
    m = first.get(names["files"], 2.0)  # the third: announced, then the consumer dies
    assert consumer.announce_message(m.body)[0] == "new"
    first.get(names["files"], 2.0)  # the fourth: received, never handled
    first.close()  # gone before acknowledging either
    second = bus()
    assert consumer.consume_once(second) == 4  # the broker redelivered both unacknowledged
    assert sorted(DataFile.objects.values_list("url", flat=True)) == sorted(urls)
    assert DagRun.objects.count() == 6
    assert drain(second, names["files"], 0.5) == []


def test_published_events_arrive_once_per_change(bus, make_dag, pilot_record):
    from p3s.quality.verdict import sign_off
    from tests.server.test_dag_flow import run_next

    make_dag("name: one\ntrigger: {stream: diag}\nstages:\n  a: {payload: diag, timeout: 60}\n")
    b = bus()
    assert consumer.announce_message(json.dumps(FILE).encode())[0] == "new"
    run_next(pilot_record())
    sign_off(5, None, "good", "fine", actor="op")
    kinds = list(OutboxEvent.objects.values_list("kind", flat=True))
    assert kinds == ["dagrun.finished", "run.verdict"]
    assert publisher.drain_once(b) == 2
    assert publisher.drain_once(b) == 0, "sent once"
    got = [json.loads(m.body) for m in drain(b, consumer.names()["events"])]
    assert [g["kind"] for g in got] == kinds
    assert got[0]["state"] == "succeeded" and got[1]["verdict"] == "good"
    assert len({g["id"] for g in got}) == 2


def test_the_bus_is_off_by_default(monkeypatch, make_dag, announce):
    monkeypatch.delenv("P3S_BUS_URL", raising=False)
    make_dag("name: one\ntrigger: {stream: diag}\nstages:\n  a: {payload: diag, timeout: 60}\n")
    from p3s.jobs import actions

    job = announce().dagruns[0].jobs.get()
    actions.cancel(job.pk, "op")
    assert not OutboxEvent.objects.exists()
