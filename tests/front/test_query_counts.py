"""With 100,000 jobs and 1,000,000 metric rows, no page makes more than a fixed number of queries."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from p3s.accounts.models import ApiToken
from p3s.conditions.models import ReferenceHist, ReferenceMetric, ReferenceSet, hist_key
from p3s.dags import flow, spec
from p3s.dags.models import DagRun, DataFile
from p3s.dqm.models import Alarm, AlarmRule, Metric, Product
from p3s.dqm.series import element_key
from p3s.dqm.services import store_product
from p3s.jobs.models import Job, JobEvent
from p3s.pilots.models import Pilot
from p3s.quality.catalogue import load_checks
from p3s.quality.models import Check, CheckResult, LatestResult

from .conftest import TEMPLATE_YAML, hist_body

N_JOBS = 100_000
N_METRICS = 1_000_000
STAGES = ["adc", "fft", "sig", "vis"]
BATCH = 5000

# Page -> the most queries it may make (session, user and groups included). They do not grow
# with the number of jobs; the numbers leave a little room for harmless changes.
LIMITS = {
    "/": 23,  # with the overload panel and the paused-stages panel, one query each
    "/runs/": 9,
    "/runs/{run}/": 20,
    "/dagruns/{dagrun}/": 10,
    "/jobs/": 8,
    "/jobs/?state=failed&stage=fft&run={run}": 8,
    "/jobs/?page=1500": 8,
    "/jobs/{job}/": 10,
    "/products/": 10,
    "/products/?run={run}&apa=2&plane=x&kind=png": 9,
    "/products/{product}/": 9,
    "/charts/?metric=adc_rms&group=apa&split=plane": 9,
    "/alarms/": 8,
    "/alarms/?state=cleared": 8,
    "/pilots/": 7,
    "/pilots/?state=lost": 7,
    "/checks/?apa=2&plane=x": 10,
    "/compare/?a={run}&b={run2}": 9,
    "/compare/?a={run}&b={run2}&apa=2&plane=x": 9,
    "/products/?kind=json": 9,
    "/products/{hist}/": 9,
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


def _insert_metrics(n: int, job_id: int, now) -> None:
    """``n`` metric rows over 50 runs, 6 APAs, 3 planes and 20 FEMBs, in one INSERT ... SELECT
    over a generated series (generate_series on PostgreSQL, a recursive CTE on SQLite)."""
    stamp = connection.ops.adapt_datetimefield_value(now)
    labels = (
        '\'{"apa": "\' || (i %% 6) || \'", "plane": "\' || '
        "substr('uvx', 1 + (i / 6) %% 3, 1) || '\", \"femb\": \"' || ((i / 18) %% 20) || '\"}'"
    )
    if connection.vendor == "postgresql":
        series, labels = "SELECT generate_series(0, %s - 1) AS i", f"({labels})::jsonb"
    else:
        series = (
            "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < %s) "
            "SELECT i FROM s"
        )
    sql = f"""
        INSERT INTO dqm_metric (job_id, name, value, labels, run, data_ts, created)
        SELECT %s, CASE i %% 4 WHEN 0 THEN 'adc_rms_mean' WHEN 1 THEN 'adc_pedestal_mean'
                    WHEN 2 THEN 'adc_dead_fraction' ELSE 'fft_line_max_amplitude' END,
               4.0 + (i %% 97) / 100.0, {labels}, 6000 + (i / 360) %% 50, %s, %s
        FROM ({series}) AS g"""
    with connection.cursor() as cur:
        cur.execute(sql, [job_id, stamp, stamp, n])


def _hist_products(jobs) -> list:
    """Histogram products (p3s-hist-1 files on disk) of runs 6000 and 6001."""
    out = []
    for i, j in enumerate(jobs):
        apa, plane, run = i % 6, "uvx"[(i // 6) % 3], 6000 + (i // 18) % 2
        body = hist_body(mean=4.0 + (i % 5) / 10)
        upload = SimpleUploadedFile("h.json", json.dumps(body).encode(), "application/json")
        labels = {"hist": "adc_rms", "apa": str(apa), "plane": plane}
        p = store_product(j, upload, "json", f"APA {apa} plane {plane}: channel noise", labels)
        Product.objects.filter(pk=p.pk).update(run=run)
        out.append(p)
    return out


def _check_results(run: int, now) -> None:
    """The shipped checks, 20,000 results of one run and the latest result of each check on
    every APA, plane and FEMB (what the grid, the checks page and the run page read)."""
    load_checks()
    checks = list(Check.objects.all())
    elements = [
        {"stream": "tpc", "apa": str(a), "plane": p, "femb": str(f)}
        for a in range(6)
        for p in "uvx"
        for f in range(20)
    ]

    def fields(i: int, check, element: dict) -> dict:
        return {
            "check_ref": check,
            "flag": "bad" if i % 97 == 0 else "warning" if i % 31 == 0 else "good",
            "element": element,
            "element_key": json.dumps(element, sort_keys=True),
            "apa": element["apa"],
            "plane": element["plane"],
            "femb": element["femb"],
            "stream": "tpc",
            "template": "tpc-dqm",
            "run": run,
            "value": 4.0,
            "data_ts": now,
        }

    CheckResult.objects.bulk_create(
        [
            CheckResult(**fields(i, checks[i % len(checks)], elements[i % len(elements)]))
            for i in range(20_000)
        ],
        batch_size=BATCH,
    )
    LatestResult.objects.bulk_create(
        [
            LatestResult(**fields(i, c, e))
            for i, (c, e) in enumerate((c, e) for c in checks for e in elements)
        ],
        batch_size=BATCH,
    )


def _reference() -> None:
    """A current reference of tpc-dqm with a hist per APA plane and 2,000 metric rows."""
    ref = ReferenceSet.objects.create(
        template="tpc-dqm", stream="tpc", name="run 5999", source_runs=[5999]
    )
    planes = [{"apa": str(a), "plane": p} for a in range(6) for p in "uvx"]
    ReferenceHist.objects.bulk_create(
        ReferenceHist(
            reference=ref, name="adc_rms", labels=e, element_key=hist_key(e), body=hist_body()
        )
        for e in planes
    )
    names = ["adc_rms_mean", "adc_pedestal_mean", "adc_dead_fraction", "fft_line_max_amplitude"]
    boards = [{**e, "femb": str(f)} for e in planes for f in range(20)]
    ReferenceMetric.objects.bulk_create(
        ReferenceMetric(
            reference=ref, name=n, labels=e, element_key=element_key(e), mean=4.5, std=0.3, n=10
        )
        for n in names
        for e in boards[:500]
    )


def populate(n_jobs: int, n_metrics: int = N_METRICS) -> dict:
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
    _insert_metrics(n_metrics - Metric.objects.count(), some_jobs[0].pk, now)
    hists = _hist_products(some_jobs[:36])
    _check_results(6000, now)
    _reference()
    job = some_jobs[0]
    return {
        "hist": hists[13].pk,
        "run2": 6001,
        "run": 6000,
        "dagrun": job.dagrun_id,
        "job": job.pk,
        "product": Product.objects.first().pk,
    }


def _counts(client, limits: dict, ids: dict) -> list[str]:
    """Each page's query count against its limit; the pages over their limit, described."""
    over = []
    for url, limit in limits.items():
        url = url.format(**ids)
        with CaptureQueriesContext(connection) as ctx:
            resp = client.get(url)
        assert resp.status_code == 200, url
        if len(ctx.captured_queries) > limit:
            over.append(f"{url}: {len(ctx.captured_queries)} queries, limit {limit}")
    return over


@pytest.mark.parametrize(
    "n_jobs, n_metrics",
    [pytest.param(N_JOBS, N_METRICS, marks=[pytest.mark.slow, pytest.mark.full]), (2_000, 40_000)],
    ids=["100000-jobs-1000000-metrics", "2000-jobs-40000-metrics"],
)
def test_no_page_makes_more_queries_with_many_jobs_and_metrics(
    transactional_db, operator, expert, client_of, n_jobs, n_metrics
):
    ids = populate(n_jobs, n_metrics)
    assert Job.objects.count() == n_jobs
    assert Metric.objects.count() == n_metrics
    over = _counts(client_of(operator()), LIMITS, ids)
    over += _counts(client_of(expert()), ADMIN_LIMITS, ids)
    assert not over, "\n".join(over)
