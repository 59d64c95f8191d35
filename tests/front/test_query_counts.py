"""With 100,000 jobs in the database, no page makes more than a fixed number of queries."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from p3s.accounts.models import ApiToken
from p3s.dags import flow, spec
from p3s.dags.models import DagRun, DataFile
from p3s.dqm.models import Alarm, AlarmRule, Metric, Product
from p3s.jobs.models import Job, JobEvent
from p3s.pilots.models import Pilot

from .conftest import TEMPLATE_YAML

N_JOBS = 100_000
STAGES = ["adc", "fft", "sig", "vis"]
BATCH = 5000

# Page -> the most queries it may make (session, user and groups included). They do not grow
# with the number of jobs; the numbers leave a little room for harmless changes.
LIMITS = {
    "/": 16,
    "/runs/": 9,
    "/runs/{run}/": 13,
    "/dagruns/{dagrun}/": 10,
    "/jobs/": 8,
    "/jobs/?state=failed&stage=fft&run={run}": 8,
    "/jobs/?page=1500": 8,
    "/jobs/{job}/": 10,
    "/products/": 9,
    "/products/?run={run}&apa=2&plane=x&kind=png": 9,
    "/products/{product}/": 8,
    "/charts/?metric=adc_rms&group=apa&split=plane": 9,
    "/alarms/": 8,
    "/alarms/?state=cleared": 8,
    "/pilots/": 7,
    "/pilots/?state=lost": 7,
}
ADMIN_LIMITS = {
    "/admin/jobs/job/": 12,
    "/admin/jobs/job/{job}/change/": 14,
    "/admin/dags/dagrun/": 12,
    "/admin/dags/dagtemplate/": 10,
    "/admin/dqm/metric/": 10,
}


def _insert_jobs(template, pilot_id: int, now) -> None:
    """Four jobs per DAG run in one INSERT ... SELECT (the same SQL on SQLite and PostgreSQL):
    a hundred thousand model instances through bulk_create take ten times longer."""
    states = " ".join(
        f"WHEN {i} THEN '{s}'"
        for i, s in enumerate(
            ["failed", "waiting", "running", "dropped", "timeout", "cancelled", "dispatched"]
        )
    )
    stamp = connection.ops.adapt_datetimefield_value(now)
    sql = f"""
        INSERT INTO jobs_job (dagrun_id, stage, settings_id, payload, args, queue, priority, data_ts, state,
                              attempt, pilot_id, event_fraction, inputs, parents, outputs, message, log_tail,
                              drop_reason, created, updated)
        SELECT r.id, s.stage, s.id, 'diag', '[]', 'default', s.priority, r.data_ts,
               CASE (r.id * 7 + s.id * 3) %% 18 {states} ELSE 'finished' END,
               1, CASE (r.id * 7 + s.id * 3) %% 18 WHEN 2 THEN CAST(%s AS BIGINT) ELSE NULL END,
               1.0, '[]', '{{}}', '[]', '', 'line', '', %s, %s
        FROM dags_dagrun r CROSS JOIN dags_stagesettings s
        WHERE r.template_id = %s AND s.template_id = %s
        ORDER BY r.id, s.id"""
    with connection.cursor() as cur:
        cur.execute(sql, [pilot_id, stamp, stamp, template.pk, template.pk])


def populate(n_jobs: int) -> dict:
    """Bulk-create a busy system: n_jobs jobs over n_jobs/4 files and DAG runs."""
    rnd = random.Random(4)
    template = flow.apply_spec(spec.load(TEMPLATE_YAML), actor="test").template
    version = template.current_version
    token, _ = ApiToken.issue("pilots", "pilot")
    now = timezone.now()
    pilots = Pilot.objects.bulk_create(
        [
            Pilot(
                token=token,
                key_hash=f"k{i}",
                host=f"node{i:03d}.np04",
                batch_system="condor",
                batch_id=f"{1000 + i}.0",
                queues=["default"],
                state=rnd.choice(["idle", "busy", "lost", "exited"]),
                heartbeat_interval=10,
                last_seen=now,
            )
            for i in range(200)
        ]
    )
    n_files = n_jobs // len(STAGES)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    files = [
        DataFile(
            url=f"file:///data/np04_{i}.h5",
            name=f"np04_{i}.h5",
            stream="tpc",
            run=6000 + i // 100,
            subrun=i % 100,
            data_ts=t0 + timedelta(seconds=30 * i),
            events=10,
            size=10**8,
        )
        for i in range(n_files)
    ]
    DataFile.objects.bulk_create(files, batch_size=BATCH)
    files = list(DataFile.objects.order_by("id"))
    states = ["succeeded"] * 8 + ["failed", "running", "partial"]
    DagRun.objects.bulk_create(
        [
            DagRun(
                template=template,
                version=version,
                file=f,
                state=rnd.choice(states),
                data_ts=f.data_ts,
            )
            for f in files
        ],
        batch_size=BATCH,
    )
    _insert_jobs(template, pilots[0].pk, now)
    some_jobs = list(Job.objects.filter(stage="vis").order_by("-id")[:300])
    JobEvent.objects.bulk_create(
        [
            JobEvent(job=j, from_state=a, to_state=b, actor="pilot:1")
            for j in some_jobs
            for a, b in (("", "waiting"), ("waiting", "dispatched"), ("dispatched", "running"))
        ]
    )
    Product.objects.bulk_create(
        [
            Product(
                job=j,
                run=6000,
                kind="png" if i % 3 else "json",
                title=f"ADC RMS APA{i % 6}",
                slug=f"p{i}",
                labels={"apa": str(i % 6), "plane": "uvx"[i % 3]},
                file=f"x/p{i}.png",
                size=100,
                data_ts=j.data_ts,
            )
            for i, j in enumerate(some_jobs)
        ]
    )
    Metric.objects.bulk_create(
        [
            Metric(
                job=j,
                name="adc_rms",
                value=4 + rnd.random(),
                labels={"apa": str(a), "plane": p},
                run=6000,
                data_ts=j.data_ts,
            )
            for j in some_jobs
            for a in range(1, 7)
            for p in "uvx"
        ],
        batch_size=BATCH,
    )
    rules = [
        AlarmRule.objects.create(
            name=f"r{i}", metric="adc_rms", comparison="gt", threshold=4.9 + i / 10
        )
        for i in range(5)
    ]
    Alarm.objects.bulk_create(
        [
            Alarm(
                rule=rules[i % 5],
                series=f'{{"apa": "{i}"}}',
                labels={"apa": str(i)},
                severity="warning",
                condition="adc_rms > 5",
                value=6,
                last_value=6,
                run=6000,
                job=some_jobs[i],
                data_ts=now,
                last_data_ts=now,
                state="cleared" if i >= 5 else "open",
            )
            for i in range(60)
        ]
    )
    job = some_jobs[0]
    return {
        "run": 6000,
        "dagrun": job.dagrun_id,
        "job": job.pk,
        "product": Product.objects.first().pk,
    }


@pytest.mark.slow
def test_no_page_makes_more_queries_with_100000_jobs(
    transactional_db, operator, expert, client_of, django_assert_max_num_queries
):
    ids = populate(N_JOBS)
    assert Job.objects.count() == N_JOBS
    c = client_of(operator())
    for url, limit in LIMITS.items():
        url = url.format(**ids)
        with django_assert_max_num_queries(limit, info=url):
            resp = c.get(url)
        assert resp.status_code == 200, url
    admin = client_of(expert())
    for url, limit in ADMIN_LIMITS.items():
        url = url.format(**ids)
        with django_assert_max_num_queries(limit, info=url):
            resp = admin.get(url)
        assert resp.status_code == 200, url
