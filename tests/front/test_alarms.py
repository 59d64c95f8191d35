"""Alarm rules checked as metrics arrive: one alarm per breach, cleared when back in range."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from p3s.dqm import alarms
from p3s.dqm.models import Alarm, AlarmRule, Metric
from p3s.dqm.services import metric_listeners, record_metrics
from p3s.exceptions import IllegalTransition

T0 = datetime(2026, 11, 21, 20, 0, tzinfo=UTC)


@pytest.fixture
def job(dqm_world):
    world = dqm_world(files=1, rule=False)
    return world.jobs[0]


def feed(job, value, minutes=0, apa="1", plane="x", name="adc_rms"):
    """Record one metric as if it came from data taken ``minutes`` after T0."""
    job.data_ts = T0 + timedelta(minutes=minutes)
    return record_metrics(
        job, [{"name": name, "value": value, "labels": {"apa": apa, "plane": plane}}]
    )


@pytest.fixture
def rule(db):
    return AlarmRule.objects.create(
        name="rms-high", metric="adc_rms", comparison="gt", threshold=6.0, severity="critical"
    )


def test_the_alarm_check_is_registered_on_metric_intake():
    assert alarms.check_metrics in metric_listeners


def test_an_alarm_opens_once_however_long_the_value_stays_out_of_range(job, rule):
    for i in range(10):
        feed(job, 9.0 + i, minutes=i)
    alarm = Alarm.objects.get()
    assert alarm.state == "open" and alarm.value == 9.0 and alarm.last_value == 18.0
    assert alarm.labels == {"apa": "1", "plane": "x"} and alarm.severity == "critical"
    assert alarm.condition == "adc_rms > 6"


def test_each_series_has_its_own_alarm(job, rule):
    feed(job, 9.0, apa="1")
    feed(job, 9.0, apa="2")
    feed(job, 3.0, apa="3")
    assert sorted(a.labels["apa"] for a in Alarm.objects.all()) == ["1", "2"]


def test_an_alarm_clears_when_the_value_is_back_in_range_and_a_new_breach_opens_a_new_one(
    job, rule
):
    feed(job, 9.0, minutes=0)
    feed(job, 4.0, minutes=1)
    alarm = Alarm.objects.get()
    assert alarm.state == "cleared" and alarm.cleared_at is not None and alarm.last_value == 4.0
    feed(job, 4.5, minutes=2)
    assert Alarm.objects.count() == 1
    feed(job, 8.0, minutes=3)
    assert Alarm.objects.filter(state="open").count() == 1 and Alarm.objects.count() == 2


def test_older_data_arriving_late_neither_clears_nor_reopens(job, rule):
    feed(job, 9.0, minutes=10)  # newest data processed first (LIFO)
    feed(job, 4.0, minutes=5)  # older data, in range: not news
    assert Alarm.objects.get().state == "open"
    feed(job, 4.0, minutes=11)
    feed(job, 9.0, minutes=7)  # older breach after newer data cleared it: stale
    assert Alarm.objects.filter(state="open").count() == 0


def test_an_acknowledged_alarm_stays_until_it_clears_without_reopening(job, rule):
    feed(job, 9.0, minutes=0)
    alarm = alarms.acknowledge(Alarm.objects.get().pk, "user:olga")
    assert alarm.state == "acknowledged" and alarm.acked_by == "user:olga"
    feed(job, 10.0, minutes=1)
    assert Alarm.objects.count() == 1 and Alarm.objects.get().state == "acknowledged"
    feed(job, 1.0, minutes=2)
    assert Alarm.objects.get().state == "cleared"
    with pytest.raises(IllegalTransition):
        alarms.acknowledge(alarm.pk, "user:olga")


def test_label_filters_and_disabled_rules(job):
    AlarmRule.objects.create(
        name="x-only", metric="adc_rms", labels={"plane": "x"}, comparison="lt", threshold=1.0
    )
    AlarmRule.objects.create(
        name="off", metric="adc_rms", comparison="lt", threshold=1.0, enabled=False
    )
    feed(job, 0.5, plane="u")
    assert not Alarm.objects.exists()
    feed(job, 0.5, plane="x")
    assert list(Alarm.objects.values_list("rule__name", flat=True)) == ["x-only"]


@pytest.mark.parametrize(
    "comparison,threshold,value,breaks",
    [
        ("gt", 5, 5, False),
        ("ge", 5, 5, True),
        ("lt", 5, 4.9, True),
        ("le", 5, 5.1, False),
    ],
)
def test_comparisons(comparison, threshold, value, breaks):
    assert AlarmRule(metric="m", comparison=comparison, threshold=threshold).breaks(value) is breaks


class _Hook(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Hook.received = []
    _Hook.status = 200
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Hook
    server.shutdown()
    server.server_close()


def test_the_webhook_gets_one_message_when_an_alarm_opens_and_one_when_it_clears(job, webhook):
    url, hook = webhook
    AlarmRule.objects.create(
        name="rms-high", metric="adc_rms", comparison="gt", threshold=6.0, webhook=url
    )
    feed(job, 9.0, minutes=0)
    feed(job, 9.5, minutes=1)
    feed(job, 2.0, minutes=2)
    events = [(ctype, msg["event"], msg["rule"], msg["labels"]) for ctype, msg in hook.received]
    assert events == [
        ("application/json", "opened", "rms-high", {"apa": "1", "plane": "x"}),
        ("application/json", "cleared", "rms-high", {"apa": "1", "plane": "x"}),
    ]
    assert "adc_rms > 6" in hook.received[0][1]["text"]


def test_a_failing_or_dead_webhook_never_breaks_metric_intake(job, webhook, caplog):
    url, hook = webhook
    hook.status = 500
    AlarmRule.objects.create(
        name="a", metric="adc_rms", comparison="gt", threshold=6.0, webhook=url
    )
    AlarmRule.objects.create(
        name="b",
        metric="adc_rms",
        comparison="gt",
        threshold=6.0,
        webhook="http://127.0.0.1:9/nothing-listens-here",
    )
    rows = feed(job, 9.0)
    assert len(rows) == 1 and Metric.objects.filter(name="adc_rms", value=9.0).exists()
    assert Alarm.objects.filter(state="open").count() == 2
    assert "answered 500" in caplog.text and "failed for alarm" in caplog.text


def test_a_broken_listener_does_not_lose_metrics(job, monkeypatch, rule):
    def boom(rows):
        raise RuntimeError("bug in a listener")

    monkeypatch.setattr("p3s.dqm.services.metric_listeners", [boom, alarms.check_metrics])
    feed(job, 9.0)
    assert Metric.objects.filter(value=9.0).exists() and Alarm.objects.count() == 1
