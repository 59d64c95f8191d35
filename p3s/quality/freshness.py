"""How fresh the data and the DQM results are, and the system-health alarms built on it.

``during a run`` means: the last file from DAQ arrived less than ``P3S_RUN_GAP`` (default
3,600 s) ago; there is no run-stop record, so a longer gap is taken as the end of the run and
neither alarm fires between runs. DAQ is silent when, during a run, no file arrived for
``P3S_DAQ_SILENCE`` (300 s). Results are stale when, during a run, the newest product's data
are older than the latency budget ``P3S_LATENCY_BUDGET`` (600 s: the design note's 10-minute
benchmark from data taking to plot).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from p3s.dags.models import DataFile
from p3s.dqm.models import Product


def _age(now: datetime, ts: datetime | None) -> float | None:
    return None if ts is None else max(0.0, (now - ts).total_seconds())


def freshness(now: datetime | None = None) -> dict:
    """``{"last_file_s", "newest_product_s", "budget_s", "daq_silent", "stale"}``: two queries."""
    now = now or timezone.now()
    cfg = settings.P3S
    last_file_s = _age(now, DataFile.objects.aggregate(t=Max("created"))["t"])
    # product_latest index: the newest product by data time.
    newest = Product.objects.order_by("-data_ts", "-id").values_list("data_ts", flat=True).first()
    newest_product_s = _age(now, newest)
    budget = float(cfg["LATENCY_BUDGET"])
    during_run = last_file_s is not None and last_file_s < cfg["RUN_GAP"]
    return {
        "last_file_s": last_file_s,
        "newest_product_s": newest_product_s,
        "budget_s": budget,
        "daq_silent": bool(during_run and last_file_s > cfg["DAQ_SILENCE"]),
        "stale": bool(during_run and (newest_product_s is None or newest_product_s > budget)),
    }
