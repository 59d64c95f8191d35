"""DQM results: visual products and numeric metrics (alarms build on metrics)."""

from __future__ import annotations

from django.db import models


class ProductKind(models.TextChoices):
    PNG = "png", "PNG image"
    BOKEH = "bokeh", "bokeh JSON item"
    JSON = "json", "JSON data"


def product_path(instance: Product, filename: str) -> str:
    # The stored name is built by the server, never taken from the client (no ../ tricks).
    ext = {"png": "png", "bokeh": "json", "json": "json"}[instance.kind]
    return f"run{instance.run:06d}/job{instance.job_id}/{instance.slug}.{ext}"


class Product(models.Model):
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="products")
    run = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=ProductKind.choices)
    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80)
    labels = models.JSONField(default=dict, blank=True)
    file = models.FileField(upload_to=product_path, max_length=300)
    size = models.PositiveIntegerField(default=0)
    data_ts = models.DateTimeField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-data_ts", "-id"]
        indexes = [
            # front products gallery: latest first, by run and kind.
            models.Index(fields=["run", "kind", "-data_ts"], name="product_run_kind"),
            models.Index(fields=["-data_ts", "-id"], name="product_latest"),
        ]

    def __str__(self) -> str:
        return self.title


class Metric(models.Model):
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="metrics")
    name = models.CharField(max_length=100)
    value = models.FloatField()
    labels = models.JSONField(default=dict, blank=True)
    run = models.PositiveIntegerField()
    data_ts = models.DateTimeField(help_text="when the data were taken: the strip charts' x axis")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-data_ts", "-id"]
        indexes = [
            # front strip charts: one metric over time.
            models.Index(fields=["name", "data_ts"], name="metric_name_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.value}"
