"""The sweeper's system-health unit: DAQ silence and DQM latency as alarm series.

Each sweep feeds two values through the alarm rules (:func:`p3s.dqm.alarms.check_metrics`),
as unsaved metrics stamped now, so the rules' open-once / clear-when-back machinery applies:
``daq_silence_s`` (seconds since the last file; 0 between runs) and ``dqm_latency_s`` (age of
the newest product's data; 0 between runs). The shipped rules ``daq-silent`` and
``dqm-latency`` (p3s/quality/defaults) hold the limits; see :mod:`p3s.quality.freshness`.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone

from p3s.dqm import alarms
from p3s.dqm.models import Metric
from p3s.quality.freshness import freshness

SYSTEM_METRICS = ("daq_silence_s", "dqm_latency_s")


def system_health(now: datetime | None = None) -> int:
    """Open or clear the system-health alarms; returns how many alarm events it made."""
    now = now or timezone.now()
    f = freshness(now)
    during_run = f["last_file_s"] is not None and f["last_file_s"] < settings.P3S["RUN_GAP"]
    values = {
        "daq_silence_s": f["last_file_s"] if during_run else 0.0,
        "dqm_latency_s": (
            (f["newest_product_s"] if f["newest_product_s"] is not None else f["last_file_s"])
            if during_run
            else 0.0
        ),
    }
    rows = [
        Metric(name=name, value=float(v), labels={"system": "dqm"}, run=0, data_ts=now)
        for name, v in values.items()
    ]
    return len(alarms.check_metrics(rows))
