"""GET /metrics: Prometheus text format, computed from the database at scrape time
(so every gunicorn worker gives the same answer)."""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from p3s.jobs.models import Job
from p3s.jobs.states import LIVE
from p3s.pilots.models import Pilot


class QueueCollector:
    def collect(self):
        jobs = GaugeMetricFamily(
            "p3s_jobs", "Live jobs by state, stage and queue", labels=["state", "stage", "queue"]
        )
        for row in (
            Job.objects.filter(state__in=LIVE)
            .values("state", "stage", "queue")
            .annotate(n=Count("id"))
        ):
            jobs.add_metric([row["state"], row["stage"], row["queue"]], row["n"])
        yield jobs
        pilots = GaugeMetricFamily("p3s_pilots", "Pilots by state", labels=["state"])
        for row in Pilot.objects.values("state").annotate(n=Count("id")):
            pilots.add_metric([row["state"]], row["n"])
        yield pilots
        from datetime import timedelta

        from django.utils import timezone

        from p3s.api.views import latency_figures

        lat = latency_figures(timezone.now() - timedelta(hours=1))
        g = GaugeMetricFamily(
            "p3s_dagrun_latency_seconds",
            "File arrival to DAG run end, last hour",
            labels=["quantile"],
        )
        for key, q in (("median_s", "0.5"), ("p90_s", "0.9"), ("max_s", "1")):
            if key in lat:
                g.add_metric([q], lat[key])
        yield g


def metrics_view(request):
    registry = CollectorRegistry()
    registry.register(QueueCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
