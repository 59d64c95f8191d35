"""With 1,000,000 metric rows and 100,000 check results stored, the tree, the grid, the run
verdict and freshness make a fixed number of queries, and so does judging a batch of metrics
whatever its size (a bounded variant with 10,000 rows runs by default)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from p3s.dqm.models import Metric
from p3s.dqm.services import record_metrics
from p3s.quality.catalogue import load_checks
from p3s.quality.evaluate import evaluate_metrics
from p3s.quality.freshness import freshness
from p3s.quality.models import Check, LatestResult
from p3s.quality.tree import apa_plane_grid, latest_tree
from p3s.quality.verdict import run_quality

from .quality_world import media, new_job, tpc_template  # noqa: F401

SIZES = pytest.mark.parametrize(
    "busy",
    [10_000, pytest.param(1_000_000, marks=[pytest.mark.slow, pytest.mark.full], id="1000000")],
    indirect=True,
)


def board_metrics(apas=range(6), fault: bool = True) -> list[dict]:
    """A full detector's per-plane, per-board and per-ASIC metrics, as dqm-adcfft names them;
    with ``fault`` FEMB 7 of APA 3 is noisy."""
    out = []
    for a in apas:
        for p in "uvx":
            ped = 900.0 if p == "x" else 2350.0
            base = {"apa": str(a), "plane": p}
            out += [{"name": "adc_rms_mean", "value": 4.2, "labels": base},
                    {"name": "adc_dead_channels", "value": 2, "labels": base}]  # fmt: skip
            for f in range(20):
                board = {**base, "femb": str(f)}
                out += [{"name": "adc_pedestal_mean", "value": ped, "labels": board},
                        {"name": "adc_rms_mean", "value": 4.2 + 4.0 * (fault and a == 3 and f == 7), "labels": board}]  # fmt: skip
                out += [{"name": "adc_asic_rms_ratio", "value": 1.0, "labels": {**board, "asic": str(k)}}
                        for k in range(8)]  # fmt: skip
    return out


def bulk_rows(table: str, columns: str, select: str, n: int, params: list) -> None:
    """INSERT n rows by INSERT ... SELECT over a counter (the same SQL on SQLite and PostgreSQL)."""
    sql = f"""
        WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < 999)
        INSERT INTO {table} ({columns})
        SELECT {select} FROM k AS a CROSS JOIN k AS b WHERE a.i * 1000 + b.i < %s"""
    with connection.cursor() as cur:
        cur.execute(sql, [*params, n])


@pytest.fixture
def busy(db, request):
    """A job of run 7000 with a full detector's results, beside ``request.param`` metric rows
    and a tenth as many check results of other runs."""
    n_metrics = request.param
    tpc_template()
    load_checks()
    job = new_job(7000)
    stamp = connection.ops.adapt_datetimefield_value(job.data_ts)
    labels = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    bulk_rows(
        "dqm_metric", "job_id, name, value, labels, run, data_ts, created",
        f"%s, 'adc_rms_mean', 4.0 + b.i / 1000.0, {labels}, 6000 + a.i, %s, %s",
        n_metrics, [job.pk, '{"apa": "1", "plane": "u"}', stamp, stamp],
    )  # fmt: skip
    record_metrics(job, board_metrics())
    check_id = Check.objects.values_list("id", flat=True).first()
    bulk_rows(
        "quality_checkresult",
        "check_ref_id, flag, element, element_key, apa, plane, femb, stream, template, run, "
        "value, detail, data_ts, created",
        f"%s, 'warning', {labels}, 'k', '1', 'u', '', 'tpc', 'tpc-dqm', 6000 + a.i, 1.0, '', %s, %s",
        n_metrics // 10, [check_id, '{"apa": "1", "plane": "u"}', stamp, stamp],
    )  # fmt: skip
    job.n_metrics = n_metrics
    return job


def queries(fn) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return [q["sql"] for q in ctx.captured_queries]


def count(fn) -> int:
    return len(queries(fn))


def shapes(sqls: list[str]) -> set[str]:
    """Statements without their values and savepoint names: what the code asks for."""
    return {re.sub(r"( \(| WHERE |SAVEPOINT ).*", r"\1", q) for q in sqls}


@SIZES
def test_the_tree_grid_verdict_and_freshness_make_fixed_queries_over_a_million_metrics(busy):
    assert Metric.objects.count() > busy.n_metrics
    assert LatestResult.objects.count() > 2000
    assert count(latest_tree) == 1
    assert count(apa_plane_grid) == 1
    assert apa_plane_grid()["cells"][(3, "u")]["flag"] == "warning"
    # results, tallies, sign-offs, alarms and the current reference set: five, whatever the size
    assert count(lambda: run_quality(7000)) <= 5
    assert count(lambda: run_quality(6500)) <= 5  # a run of the bulk history
    assert count(freshness) == 2


@SIZES
def test_judging_a_batch_of_metrics_makes_the_same_queries_whatever_its_size(busy):
    small, large = board_metrics([0], fault=False)[:50], board_metrics(fault=False)
    job = new_job(7001)

    def rows(items):
        return [Metric(job=job, run=7001, data_ts=job.data_ts, **m) for m in items]

    evaluate_metrics(rows(large))  # the run's tallies exist from now on
    q_small = queries(lambda: evaluate_metrics(rows(small)))
    q_large = queries(lambda: evaluate_metrics(rows(large)))
    assert shapes(q_small) == shapes(q_large)
    assert len(q_small) <= 12, q_small
    if connection.vendor == "postgresql":  # SQLite splits big INSERTs at 999 variables
        assert len(q_large) == len(q_small)
