#!/usr/bin/env python3
"""What the server-side checks add to a ``metrics`` POST, measured in process.

Sets up a throw-away database (SQLite in a temporary folder; ``--database-url`` for a
PostgreSQL one that may be wiped), loads the shipped DAG templates, checks and alarm rules, and
times ``record_metrics`` (the body of ``POST /api/v1/jobs/{id}/metrics/``) on the metrics
dqm-adcfft emits for one file of the full detector (6 APAs: per plane, per FEMB, per ASIC;
about 10,000 metrics), with the checks enabled and with them disabled (the alarm rules run in
both). Also the time of one reference-histogram comparison (80 bins). Each figure is the median
of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def detector_metrics() -> list[dict]:
    out = []
    for a in range(6):
        for p in "uvx":
            base = {"stream": "tpc", "run": "1", "apa": str(a), "plane": p}
            ped = 900.0 if p == "x" else 2350.0
            out += [{"name": n, "value": v, "labels": base} for n, v in (
                ("adc_rms_mean", 4.2), ("adc_pedestal_mean", ped), ("adc_dead_channels", 2),
                ("adc_noisy_channels", 1), ("fft_line_max_amplitude", 0.0))]  # fmt: skip
            for f in range(20):
                board = {**base, "femb": str(f)}
                out += [{"name": n, "value": v, "labels": board} for n, v in (
                    ("adc_rms_mean", 4.2), ("adc_pedestal_mean", ped), ("adc_dead_fraction", 0.0),
                    ("fft_line_max_amplitude", 0.0))]  # fmt: skip
                for k in range(8):
                    chip = {**board, "asic": str(k)}
                    out += [{"name": n, "value": v, "labels": chip} for n, v in (
                        ("adc_pedestal_mean", ped), ("adc_rms_mean", 4.2),
                        ("adc_asic_pedestal_shift", 3.0), ("adc_asic_rms_ratio", 1.0))]  # fmt: skip
        out += [{"name": "adc_femb_missing", "value": 0.0, "labels": {"apa": str(a), "femb": str(f)}}
                for f in range(20)]  # fmt: skip
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL database this may wipe")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="p3s-bench-quality-"))
    os.environ["P3S_VAR_DIR"] = str(var)
    os.environ["P3S_DATABASE_URL"] = args.database_url or f"sqlite:///{var / 'p3s.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p3s.settings")
    import django

    django.setup()
    from django.core.management import call_command

    if args.database_url:
        call_command("flush", "--no-input", verbosity=0)
    call_command("migrate", verbosity=0)
    call_command("p3s_load_dags", stdout=open(os.devnull, "w"))

    import numpy as np
    from django.utils import timezone

    from p3s.dags import flow
    from p3s.dqm.services import record_metrics
    from p3s.jobs.models import Job
    from p3s.quality import checks
    from p3s.quality.models import Check

    items = detector_metrics()

    def timed(enabled: bool) -> float:
        Check.objects.update(enabled=enabled)
        times = []
        for i in range(args.repeats):
            ann = flow.announce_file({"url": f"file:///b/{enabled}-{i}.h5", "name": f"{enabled}-{i}.h5",
                                      "stream": "tpc", "run": 1, "subrun": i, "data_ts": timezone.now(),
                                      "events": 1, "size": 1, "checksum": ""}, actor="bench")  # fmt: skip
            job = Job.objects.select_related("dagrun__file").get(
                dagrun=ann.dagruns[0], stage="adcfft"
            )
            t0 = time.perf_counter()
            record_metrics(job, items)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    without = timed(False)
    with_checks = timed(True)
    rng = np.random.default_rng(1)
    shape = np.exp(-0.5 * ((np.arange(80) - 16) / 3.0) ** 2)
    h = {
        "edges": list(np.linspace(0, 20, 81)),
        "counts": list(rng.multinomial(800, shape / shape.sum())),
    }
    r = {"edges": h["edges"], "counts": list(rng.multinomial(800, shape / shape.sum()))}
    t0 = time.perf_counter()
    for _ in range(200):
        checks.compare_hists(h, r)
    hist_ms = (time.perf_counter() - t0) / 200 * 1e3
    result = {
        "database": "postgresql" if args.database_url else "sqlite",
        "metrics_per_post": len(items),
        "post_without_checks_s": round(without, 4),
        "post_with_checks_s": round(with_checks, 4),
        "added_per_post_s": round(with_checks - without, 4),
        "added_per_metric_us": round((with_checks - without) / len(items) * 1e6, 1),
        "hist_comparison_ms": round(hist_ms, 3),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
