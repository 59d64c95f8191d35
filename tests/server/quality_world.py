"""Helpers of the quality tests: TPC files and jobs, results posted through the real intake
(record_metrics, store_product: the listeners run), and a reference set and conditions.

The reference is real where it matters (:func:`real_reference`: the reference run posted
through the intake, the set made by ``make_reference``, the known-bad lists condition versions
valid for their runs). :class:`StaticReference` and :func:`install` (a ``monkeypatch`` on the
two doors of :mod:`p3s.quality.refs`) remain for unit tests of the evaluator that need a
reference the database could not hold (an expired one, a hand-made histogram).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from p3s.dags import flow, spec
from p3s.dqm.series import element_key
from p3s.dqm.services import record_metrics, store_product
from p3s.jobs.models import Job
from p3s.quality import refs

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Product files go to a temporary folder."""
    settings.MEDIA_ROOT = str(tmp_path / "products")


def tpc_template():
    text = (ROOT / "p3s/dags/defaults/tpc-dqm.yaml").read_text()
    return flow.apply_spec(spec.load(text), actor="test", source=text).template


def new_job(run: int, minutes: float = 0.0) -> Job:
    """Announce a TPC file of ``run`` taken ``minutes`` after T0; its adcfft job."""
    name = f"np04_run{run:06d}_{uuid.uuid4().hex[:8]}.h5"
    ann = flow.announce_file(
        {
            "url": f"file:///data/{name}",
            "name": name,
            "stream": "tpc",
            "run": run,
            "subrun": 1,
            "data_ts": T0 + timedelta(minutes=minutes),
            "events": 1,
            "size": 1,
            "checksum": "",
        },
        actor="daq:test",
    )
    return Job.objects.select_related("dagrun__file", "dagrun__template").get(
        dagrun=ann.dagruns[0], stage="adcfft"
    )


def post_hist(job: Job, labels: dict, hist: dict):
    upload = SimpleUploadedFile("h.json", json.dumps(hist).encode(), "application/json")
    return store_product(job, upload, "json", hist.get("title", "hist"), labels)


def post_table(job: Job, apa: int, table: dict):
    upload = SimpleUploadedFile("t.json", json.dumps(table).encode(), "application/json")
    return store_product(
        job, upload, "json", f"APA {apa} bad channels", {"table": "bad_channels", "apa": str(apa)}
    )


def post_apa(job: Job, apa: int, products) -> None:
    """Post one APA's (metrics, hists, table) as the pilot would after dqm-adcfft."""
    metrics, hists, table = products
    record_metrics(
        job, [dict(m, labels={**m["labels"], "run": str(job.dagrun.file.run)}) for m in metrics]
    )
    for labels, hist in hists:
        post_hist(job, labels, hist)
    post_table(job, apa, table)


def real_reference(ref_run: int, per_apa: dict, known_bad: dict[int, dict]):
    """Make ``ref_run`` (``per_apa``: APA -> its products) the tpc-dqm reference the way an
    expert does, and the known-bad list of each run in ``known_bad`` a condition version valid
    for that run only. The reference run's own results are then forgotten, so that the tests
    count only the runs they judge."""
    from p3s.conditions import services
    from p3s.conditions.references import make_reference
    from p3s.quality.models import CheckResult, LatestResult, RunTally

    job = new_job(ref_run)
    for apa, products in per_apa.items():
        post_apa(job, apa, products)
    reference = make_reference("tpc-dqm", "tpc", runs=[ref_run], owner="test")
    for model in (CheckResult, RunTally, LatestResult):
        model.objects.all().delete()
    for run, data in known_bad.items():
        services.new_version(
            "bad-channels", data, owner="test", valid_from_run=run, valid_to_run=run
        )
    return reference


def _key(labels: dict) -> str:
    return element_key({k: v for k, v in labels.items() if k not in ("hist", "stream")})


@dataclass
class StaticReference:
    """A reference set in memory, with ReferenceSet's interface."""

    id: int = 1
    name: str = "reference"
    run: int | None = None
    expired: bool = False
    hists: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    def hist_for(self, name: str, labels: dict) -> dict | None:
        return self.hists.get((name, _key(labels)))

    def metric_for(self, name: str, labels: dict) -> float | None:
        return self.metrics.get((name, _key(labels)))

    @classmethod
    def of(cls, run: int, per_apa: dict, **kw) -> StaticReference:
        """From (metrics, hists, table) per APA of a reference run."""
        ref = cls(run=run, **kw)
        for metrics, hists, _ in per_apa.values():
            for m in metrics:
                ref.metrics[(m["name"], _key(m["labels"]))] = m["value"]
            for labels, hist in hists:
                ref.hists[(labels["hist"], _key(labels))] = hist
        return ref


def install(monkeypatch, reference=None, conditions: dict | None = None) -> None:
    """Make ``reference`` current for every template and stream, and ``conditions`` (name ->
    data) the current conditions."""
    monkeypatch.setattr(refs, "current_reference", lambda template, stream, run=None: reference)
    monkeypatch.setattr(refs, "condition_data", lambda name, run=None: (conditions or {}).get(name))
