"""A staged world for p3s.archive: DAG runs whose jobs wrote real output files under the
staging area (``DATA_ROOT/outputs``, the claim's ``output_dir``) and products under media."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from p3s.accounts.models import ApiToken
from p3s.api.views import job_spec
from p3s.dags import flow, spec
from p3s.dags.models import DagRun
from p3s.dqm.services import record_metrics, store_product
from p3s.jobs import actions, claim
from p3s.pilots import services as pilot_services
from tests.front.conftest import png_bytes

TEMPLATE = """\
name: {name}
trigger: {{stream: {stream}}}
stages:
  adc: {{payload: diag}}
  fft: {{payload: diag, parents: [adc]}}
  vis: {{payload: diag, parents: [fft]}}
"""


def sha256_file(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Staged:
    runs: list = field(default_factory=list)
    outputs: dict = field(default_factory=dict)  # dagrun id -> [Path]
    products: list = field(default_factory=list)


@pytest.fixture
def staging(settings, tmp_path, monkeypatch):
    settings.DATA_ROOT = tmp_path / "data"
    settings.MEDIA_ROOT = tmp_path / "data" / "products"
    monkeypatch.delenv("P3S_ARCHIVE_STAGING_ROOTS", raising=False)
    return tmp_path


@pytest.fixture
def staged(db, staging):
    """``build(files, stream, template, live=0, products=True, metrics=False)``: announce
    ``files`` files and run their DAGs; the last ``live`` runs stop before ``vis``."""
    made: dict[str, object] = {}
    token, _ = ApiToken.issue("pilots", "pilot")
    pilot, _ = pilot_services.register(token, {"host": "node", "queues": ["default"]})
    counter = iter(range(10_000))

    def build(
        files: int = 2,
        stream: str = "tpc",
        template: str = "tpc-dqm",
        live: int = 0,
        products: bool = True,
        metrics: bool = False,
    ) -> Staged:
        if template not in made:
            made[template] = flow.apply_spec(
                spec.load(TEMPLATE.format(name=template, stream=stream)), actor="test"
            ).template
        world = Staged()
        base = datetime(2026, 11, 1, tzinfo=UTC)
        for _ in range(files):
            i = next(counter)
            ann = flow.announce_file(
                {
                    "url": f"file:///raw/{stream}_{i:05d}.h5",
                    "name": f"{stream}_{i:05d}.h5",
                    "stream": stream,
                    "run": 7000 + i // 10,
                    "subrun": i,
                    "data_ts": base + timedelta(minutes=i),
                    "events": 5,
                    "size": 1000,
                },
                actor="daq:test",
            )
            world.runs.extend(r for r in ann.dagruns if r.template.name == template)
        live_ids = {r.pk for r in world.runs[len(world.runs) - live :]} if live else set()
        actor = f"pilot:{pilot.pk}"
        for _ in range(10 * files):
            job = claim.claim_next(pilot.pk, ["default"], actor=actor)
            if job is None:
                break
            if job.dagrun_id in live_ids and job.stage == "vis":
                continue  # stays dispatched: its run is live
            out = Path(job_spec(job)["output_dir"])
            out.mkdir(parents=True, exist_ok=True)
            path = out / f"{job.stage}.h5"
            path.write_bytes(f"{job.stage} of run {job.dagrun_id} ".encode() * 500)
            world.outputs.setdefault(job.dagrun_id, []).append(path)
            actions.report(job.pk, pilot.pk, actions.Report(state="running"), actor=actor)
            done = actions.report(
                job.pk,
                pilot.pk,
                actions.Report(state="finished", outputs=[path.as_uri()]),
                actor=actor,
            )
            if metrics and job.stage == "adc":
                record_metrics(done, [{"name": "adc_rms", "value": 4.0, "labels": {}}])
            if products and job.stage == "vis":
                upload = SimpleUploadedFile("plot.png", png_bytes("ADC RMS"), "image/png")
                world.products.append(store_product(done, upload, "png", "ADC RMS", {}))
        world.runs = list(DagRun.objects.filter(pk__in=[r.pk for r in world.runs]).order_by("id"))
        return world

    return build
