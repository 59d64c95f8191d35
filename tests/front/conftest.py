"""Personas and a small DQM world for the operator pages' tests.

Personas are fixtures that return functions: ``operator()`` makes a person in the operator
group, ``expert()`` a staff expert, ``nobody()`` a person with an account but no role;
``client_of(user)`` logs one in. Anonymous is a plain ``client``.
"""

from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from p3s.accounts.models import ApiToken
from p3s.dags import flow, spec
from p3s.dqm.models import AlarmRule
from p3s.dqm.services import record_metrics, store_product
from p3s.jobs import actions, claim
from p3s.pilots import services as pilot_services

PASSWORD = "correct-horse-battery"

TEMPLATE_YAML = """\
name: tpc-dqm
description: ADC, FFT and signal processing on every TPC file, then the plots
trigger: {stream: tpc}
stages:
  adc: {payload: diag, args: {seconds: 0}}
  fft: {payload: diag, parents: [adc]}
  sig: {payload: diag, parents: [adc]}
  vis: {payload: diag, parents: [fft, sig]}
"""


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    """Product files go to a temporary folder."""
    settings.MEDIA_ROOT = str(tmp_path / "products")


def _person(username: str, group: str | None, staff: bool = False) -> User:
    user = User.objects.create_user(username, password=PASSWORD, is_staff=staff)
    if group:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


@pytest.fixture
def operator(db):
    def make(username: str = "olga") -> User:
        return _person(username, "operator")

    return make


@pytest.fixture
def expert(db):
    def make(username: str = "eddie") -> User:
        return _person(username, "expert", staff=True)

    return make


@pytest.fixture
def nobody(db):
    def make(username: str = "norbert") -> User:
        return _person(username, None)

    return make


@pytest.fixture
def client_of(db):
    def make(user: User) -> Client:
        c = Client()
        c.force_login(user)
        return c

    return make


@pytest.fixture
def csrf_client_of(db):
    """A client that enforces CSRF, as a browser would meet it."""

    def make(user: User) -> Client:
        c = Client(enforce_csrf_checks=True)
        c.force_login(user)
        return c

    return make


# -- a DQM world ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def png_bytes(title: str = "plot") -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(4, 2.6), dpi=60)
    x = np.arange(2560)
    ax.plot(x, 4 + 0.5 * np.sin(x / 90.0), lw=0.8)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("channel", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


@functools.lru_cache(maxsize=4)
def bokeh_bytes(title: str = "spectrum") -> bytes:
    from bokeh.embed import json_item
    from bokeh.plotting import figure

    fig = figure(title=title, height=250, width=400, sizing_mode="stretch_width")
    fig.line([0.0, 0.1, 0.2, 0.3, 0.4, 0.5], [3.0, 2.5, 1.2, 0.8, 0.6, 0.5])
    fig.xaxis.axis_label = "frequency (MHz)"
    return json.dumps(json_item(fig)).encode()


@dataclass
class World:
    template: object
    files: list = field(default_factory=list)
    dagruns: list = field(default_factory=list)
    jobs: list = field(default_factory=list)
    pilot: object = None
    products: list = field(default_factory=list)
    rule: object = None


def run_job(job, pilot, metrics=None, fail: bool = False):
    actor = f"pilot:{pilot.pk}"
    actions.report(job.pk, pilot.pk, actions.Report(state="running"), actor=actor)
    if fail:
        return actions.report(
            job.pk,
            pilot.pk,
            actions.Report(
                state="failed",
                exit_code=3,
                message="payload crashed",
                log_tail="Traceback...\nValueError: bad FEMB 7\n",
            ),
            actor=actor,
        )
    done = actions.report(
        job.pk,
        pilot.pk,
        actions.Report(
            state="finished",
            outputs=[f"file:///out/{job.pk}.h5"],
            log_tail=f"stage {job.stage} ok\n",
        ),
        actor=actor,
    )
    if metrics:
        record_metrics(done, metrics)
    return done


@pytest.fixture
def dqm_world(db):
    """Build a world: a template, TPC files of one run, a pilot that ran the stages, products,
    metrics per APA and plane, and an alarm rule. ``fail_last`` leaves one failed job."""

    def build(files: int = 2, run: int = 5001, fail_last: bool = False, rule: bool = True) -> World:
        applied = flow.apply_spec(spec.load(TEMPLATE_YAML), actor="test")
        world = World(template=applied.template)
        if rule:
            world.rule = AlarmRule.objects.create(
                name="adc-rms-high",
                metric="adc_rms",
                comparison="gt",
                threshold=6.0,
                severity="critical",
                description="noise above 6 ADC: check the FEMB power",
            )
        token, _ = ApiToken.issue("pilots", "pilot")
        world.pilot, _ = pilot_services.register(
            token,
            {
                "host": "np04-srv-021",
                "site": "CERN",
                "batch_system": "condor",
                "batch_id": "4711.0",
                "queues": ["default"],
            },
        )
        base = datetime(2026, 11, 21, 20, 0, tzinfo=UTC)
        for i in range(files):
            ts = base + timedelta(minutes=5 * i)
            ann = flow.announce_file(
                {
                    "url": f"file:///data/np04_run{run}_{i:04d}.h5",
                    "name": f"np04_run{run}_{i:04d}.h5",
                    "stream": "tpc",
                    "run": run,
                    "subrun": i,
                    "data_ts": ts,
                    "events": 10,
                    "size": 123456789,
                    "checksum": "",
                },
                actor="daq:test",
            )
            world.files.append(ann.file)
            world.dagruns.extend(ann.dagruns)
        last_file = len(world.files) - 1
        for _ in range(4 * files):
            job = claim.claim_next(world.pilot.pk, ["default"], actor=f"pilot:{world.pilot.pk}")
            if job is None:
                break
            index = world.files.index(next(f for f in world.files if f.pk == job.dagrun.file_id))
            if fail_last and index == last_file and job.stage == "fft":
                world.jobs.append(run_job(job, world.pilot, fail=True))
                continue
            metrics = None
            if job.stage == "adc":
                metrics = [
                    {
                        "name": "adc_rms",
                        "value": 4.0
                        + 0.1 * apa
                        + (3.5 if (index == last_file and apa == 2 and plane == "x") else 0),
                        "labels": {"apa": str(apa), "plane": plane},
                    }
                    for apa in range(1, 4)
                    for plane in "uvx"
                ]
            world.jobs.append(run_job(job, world.pilot, metrics=metrics))
            if job.stage == "vis":
                for apa in (1, 2):
                    upload = SimpleUploadedFile(
                        "x.png", png_bytes(f"ADC RMS APA{apa}"), "image/png"
                    )
                    world.products.append(
                        store_product(
                            job,
                            upload,
                            "png",
                            f"ADC RMS APA{apa} plane x",
                            {"apa": str(apa), "plane": "x"},
                        )
                    )
                upload = SimpleUploadedFile("x.json", bokeh_bytes(), "application/json")
                world.products.append(
                    store_product(
                        job, upload, "bokeh", "Noise spectrum APA1", {"apa": "1", "plane": "u"}
                    )
                )
        return world

    return build


# -- histogram products (p3s-hist-1, INTERFACES.md section 2) ---------------------------------


def hist_body(
    name: str = "adc_rms", mean: float = 4.0, entries: int = 800, title: str = ""
) -> dict:
    """A channel-noise histogram (0-20 ADC, 80 bins) of ``entries`` channels around ``mean``."""
    import math

    edges = [0.25 * i for i in range(81)]
    centres = [0.25 * i + 0.125 for i in range(80)]
    shape = [math.exp(-0.5 * ((c - mean) / 0.6) ** 2) for c in centres]
    total = sum(shape)
    return {
        "format": "p3s-hist-1",
        "name": name,
        "title": title or f"{name}",
        "x_label": "robust RMS [ADC]",
        "y_label": "channels",
        "edges": edges,
        "counts": [round(entries * s / total, 3) for s in shape],
        "profile": False,
        "log_y": False,
    }


def store_hist(job, apa: int, plane: str, mean: float = 4.0, name: str = "adc_rms"):
    """A histogram product of one APA plane, stored as a pilot's upload would be."""
    body = hist_body(name, mean, title=f"APA {apa} plane {plane}: channel noise")
    upload = SimpleUploadedFile("h.json", json.dumps(body).encode(), "application/json")
    labels = {"hist": name, "stream": "tpc", "apa": str(apa), "plane": plane}
    return store_product(job, upload, "json", body["title"], labels)


@pytest.fixture
def hist_world(dqm_world):
    """Runs of one file each with adc_rms histograms and adc_rms_mean metrics per APA (1, 2) and
    plane; after the first ``good_runs`` runs the ``shifted`` (apa, plane) pairs are noisier
    (7 ADC instead of 4)."""

    def build(runs=(5001, 5002), shifted=((2, "x"),), good_runs: int = 1):
        worlds = []
        for i, run in enumerate(runs):
            w = dqm_world(files=1, run=run, rule=not AlarmRule.objects.exists())
            vis = next(j for j in w.jobs if j.stage == "vis")
            for apa in (1, 2):
                for plane in "uvx":
                    noisy = i >= good_runs and (apa, plane) in shifted
                    w.products.append(store_hist(vis, apa, plane, 7.0 if noisy else 4.0))
                    record_metrics(
                        vis,
                        [
                            {
                                "name": "adc_rms_mean",
                                "value": 7.0 if noisy else 4.0,
                                "labels": {
                                    "stream": "tpc",
                                    "apa": str(apa),
                                    "plane": plane,
                                    "subrun": "0",
                                },
                            }
                        ],
                    )
            worlds.append(w)
        return worlds

    return build


# The browser tests' fixture (headless Chromium), defined beside its helpers.
from .browserkit import browser  # noqa: E402, F401
