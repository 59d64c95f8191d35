"""A small DQM world for the reference tests: a TPC template, files of chosen runs, jobs run
through the real queue functions, histogram products and metrics per APA and plane."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from django.core.files.uploadedfile import SimpleUploadedFile

from p3s.accounts.models import ApiToken
from p3s.dags import flow, spec
from p3s.dqm.services import record_metrics, store_product
from p3s.jobs import actions, claim
from p3s.pilots import services as pilot_services

TEMPLATE = """\
name: tpc-dqm
trigger: {stream: tpc}
stages:
  adcfft: {payload: diag}
"""
EDGES = [0.0, 5.0, 10.0, 15.0, 20.0]


def hist_bytes(name: str, counts: list[float], profile: bool = False, edges=None) -> bytes:
    body = {
        "format": "p3s-hist-1",
        "name": name,
        "title": f"{name}",
        "x_label": "robust RMS [ADC]",
        "y_label": "channels",
        "edges": edges or EDGES,
        "counts": counts,
        "profile": profile,
        "log_y": False,
    }
    return json.dumps(body).encode()


class World:
    """``world.run_file(run, hists=[(name, labels, counts[, edges])], metrics=[...])`` runs
    one file's job and uploads its products and metrics."""

    def __init__(self):
        self.template = flow.apply_spec(spec.load(TEMPLATE), actor="test").template
        token, _ = ApiToken.issue("pilots-ref", "pilot")
        self.pilot, _ = pilot_services.register(token, {"host": "wn", "queues": ["default"]})
        self.n = 0
        self.products = []
        self.dagruns = []

    def run_file(self, run: int, hists=None, metrics=None, stream: str = "tpc"):
        self.n += 1
        ts = datetime(2026, 11, 21, tzinfo=UTC) + timedelta(minutes=self.n)
        ann = flow.announce_file(
            {
                "url": f"file:///data/run{run}_{self.n}.h5",
                "name": f"run{run}_{self.n}.h5",
                "stream": stream,
                "run": run,
                "subrun": self.n,
                "data_ts": ts,
                "events": 1,
                "size": 1,
                "checksum": "",
            },
            actor="daq:test",
        )
        self.dagruns += ann.dagruns
        job = claim.claim_next(self.pilot.pk, ["default"], actor="pilot:test")
        actor = f"pilot:{self.pilot.pk}"
        actions.report(job.pk, self.pilot.pk, actions.Report(state="running"), actor=actor)
        job = actions.report(
            job.pk, self.pilot.pk, actions.Report(state="finished", outputs=[]), actor=actor
        )
        for name, labels, counts, *edges in hists or []:
            profile = name.endswith("per_channel")
            body = hist_bytes(name, counts, profile, edges[0] if edges else None)
            upload = SimpleUploadedFile("h.json", body, "text/json")
            all_labels = {"hist": name, "run": str(run), **labels}
            self.products.append(store_product(job, upload, "json", name, all_labels))
        if metrics:
            record_metrics(job, metrics)
        return job
