"""Metrics of three runs an hour long each, with the runs' files, for the strip chart tests.

Run 6001 takes data 10:00-11:00, 6002 11:10-12:10, 6003 12:20-13:20 (2026-11-21, UTC); one
``adc_rms`` value per APA (1-3) every 5 minutes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from p3s.dags.models import DataFile
from p3s.dqm.models import Metric

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
RUNS = {6001: T0, 6002: T0 + timedelta(minutes=70), 6003: T0 + timedelta(minutes=140)}
RUN_LENGTH = timedelta(hours=1)
STEP = timedelta(minutes=5)
APAS = (1, 2, 3)


def add_run(job, run: int, start: datetime, length: timedelta = RUN_LENGTH) -> int:
    """Files (one per 10 min, each 10 min long) and metrics of one run; returns the points."""
    files, t = [], start
    while t < start + length:
        end = min(t + timedelta(minutes=10), start + length)
        files.append(
            DataFile(
                url=f"file:///data/np04_run{run}_{t:%H%M}.h5",
                name=f"np04_run{run}_{t:%H%M}.h5",
                stream="tpc",
                run=run,
                data_ts=t,
                data_ts_end=end,
            )
        )
        t = end
    DataFile.objects.bulk_create(files)
    metrics, t = [], start
    while t <= start + length:
        for apa in APAS:
            metrics.append(
                Metric(
                    job=job,
                    name="adc_rms",
                    value=4.0 + 0.2 * apa + (0.5 if t.minute % 20 == 0 else 0.0),
                    labels={"apa": str(apa), "plane": "x"},
                    run=run,
                    data_ts=t,
                )
            )
        t += STEP
    Metric.objects.bulk_create(metrics)
    return len(metrics)


def chart_world(dqm_world):
    """The three runs, on top of a DQM world (for a job to hang the metrics on)."""
    world = dqm_world(files=1, run=5999)
    Metric.objects.all().delete()  # only the runs below on the chart
    DataFile.objects.filter(run=5999).update(data_ts=T0 - timedelta(days=30), data_ts_end=None)
    job = world.jobs[0]
    for run, start in RUNS.items():
        add_run(job, run, start)
    return world
