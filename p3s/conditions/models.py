"""Conditions (versioned detector data with a validity) and reference sets (snapshots of a
good run's histograms and metrics). Rows are immutable once written: an edit is a new version,
a newer reference supersedes the older one, and history stays."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from p3s.conditions.validation import check_data
from p3s.dags.models import DataFile
from p3s.dqm.series import element_key, element_labels


def digest_of(value: Any) -> str:
    """sha256 of the canonical JSON of ``value``: the content part of ETags."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def iso(ts: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as the API writes times."""
    return ts.isoformat().replace("+00:00", "Z") if ts else None


class Condition(models.Model):
    """One version of one named condition (channel-map, bad-channels, bands, ...)."""

    name = models.SlugField(max_length=64, help_text="channel-map, bad-channels, bands, ...")
    version = models.PositiveIntegerField(editable=False)
    data = models.JSONField(help_text="the condition itself (format per name: see the guide)")
    digest = models.CharField(max_length=64, editable=False, help_text="sha256 of the data")
    valid_from_run = models.PositiveIntegerField(
        null=True, blank=True, help_text="first run it applies to; empty: from the start"
    )
    valid_to_run = models.PositiveIntegerField(
        null=True, blank=True, help_text="last run it applies to (inclusive); empty: open"
    )
    valid_from = models.DateTimeField(
        null=True, blank=True, help_text="data time from which it applies; empty: always"
    )
    valid_to = models.DateTimeField(
        null=True, blank=True, help_text="data time from which it no longer applies; empty: open"
    )
    owner = models.CharField(max_length=150, blank=True, help_text="who made this version")
    comment = models.TextField(blank=True, help_text="why this version exists")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="condition_name_version"),
        ]
        indexes = [
            # services.current_condition and condition_urls (every claim): newest version first.
            models.Index(fields=["name", "-version"], name="condition_name_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValidationError(
                f"condition {self} is a stored version and never changes: make a new version "
                "(p3s.conditions.services.new_version, or edit it in the admin)"
            )
        self.digest = digest_of(self.data)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.name:
            try:
                check_data(self.name, self.data)
            except ValidationError as exc:
                errors["data"] = exc.messages
        if (
            self.valid_from_run is not None
            and self.valid_to_run is not None
            and self.valid_to_run < self.valid_from_run
        ):
            errors["valid_to_run"] = ["the last run is before the first run"]
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            errors["valid_to"] = ["the end of validity must be after its start"]
        if errors:
            raise ValidationError(errors)

    def valid_for(self, run: int | None = None, at=None) -> bool:
        if run is not None:
            if self.valid_from_run is not None and run < self.valid_from_run:
                return False
            if self.valid_to_run is not None and run > self.valid_to_run:
                return False
        at = at or timezone.now()
        if self.valid_from is not None and at < self.valid_from:
            return False
        return not (self.valid_to is not None and at >= self.valid_to)

    @property
    def validity(self) -> str:
        runs = (
            f"runs {self.valid_from_run or 0}-{self.valid_to_run if self.valid_to_run else '...'}"
            if self.valid_from_run is not None or self.valid_to_run is not None
            else "all runs"
        )
        times = ""
        if self.valid_from or self.valid_to:
            start = self.valid_from.isoformat(timespec="minutes") if self.valid_from else "..."
            end = self.valid_to.isoformat(timespec="minutes") if self.valid_to else "..."
            times = f", data from {start} to {end}"
        return runs + times


# -- references -----------------------------------------------------------------------


def max_reference_age() -> timedelta:
    return timedelta(days=settings.P3S["REFERENCE_MAX_AGE_DAYS"])


class ReferenceSet(models.Model):
    """The reference of one template and stream: a snapshot of good data's hists and metrics."""

    template = models.SlugField(max_length=64, help_text="DAG template name")
    stream = models.CharField(max_length=32)
    name = models.CharField(max_length=200, help_text="what it is, e.g. 'run 1234, nominal HV'")
    source_runs = models.JSONField(default=list, blank=True, help_text="runs it was made from")
    source_dagruns = models.JSONField(
        default=list, blank=True, help_text="DAG run ids it was made from"
    )
    owner = models.CharField(max_length=150, blank=True, help_text="who made it")
    comment = models.TextField(blank=True)
    notes = models.TextField(blank=True, help_text="what the snapshot skipped, and why")
    valid_from_run = models.PositiveIntegerField(null=True, blank=True)
    valid_to_run = models.PositiveIntegerField(
        null=True, blank=True, help_text="last run it applies to; newer data: reference expired"
    )
    valid_until = models.DateTimeField(
        null=True, blank=True, help_text="after this time the reference is expired"
    )
    active = models.BooleanField(default=True, help_text="off: superseded or withdrawn")
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="supersedes"
    )
    digest = models.CharField(max_length=64, editable=False, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["template", "stream", "-created", "-id"]
        indexes = [
            # references.current_reference (API, checks, pages): the newest active one.
            models.Index(
                fields=["template", "stream", "active", "-created"], name="refset_current"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template}/{self.stream}: {self.name}"

    @property
    def run(self) -> int | None:
        """The (first) source run, for pages that show one."""
        return self.source_runs[0] if self.source_runs else None

    @cached_property
    def latest_run(self) -> int | None:
        """The newest run announced on this stream (to tell if data passed valid_to_run)."""
        row = (
            DataFile.objects.filter(stream=self.stream)
            .order_by("-data_ts")
            .values_list("run", flat=True)[:1]
        )
        return row[0] if row else None

    @property
    def expired_reason(self) -> str:
        """Why the reference is expired ("" when it is not)."""
        now = timezone.now()
        if self.valid_until is not None and now >= self.valid_until:
            return f"past its validity ({self.valid_until.isoformat(timespec='minutes')})"
        if self.created is not None and now - self.created > max_reference_age():
            days = settings.P3S["REFERENCE_MAX_AGE_DAYS"]
            return f"older than {days:g} days (P3S_REFERENCE_MAX_AGE_DAYS)"
        if self.valid_to_run is not None:
            latest = self.latest_run
            if latest is not None and latest > self.valid_to_run:
                return f"run {latest} is past its last run {self.valid_to_run}"
        if not self.active:
            return "superseded" if self.superseded_by_id else "withdrawn"
        return ""

    @property
    def expired(self) -> bool:
        return bool(self.expired_reason)

    def preload(self) -> ReferenceSet:
        """Read all of the set's hists and metrics now (two queries): for a page that draws
        many overlays. Without it each lookup reads its one row (by the unique index)."""
        self._rows = {
            "hist": {(h.name, h.element_key): h for h in self.hists.all()},
            "metric": {(m.name, m.element_key): m for m in self.metrics.all()},
        }
        self._complete = True
        return self

    def _row(self, kind: str, name: str, key: str):
        rows = self.__dict__.setdefault("_rows", {"hist": {}, "metric": {}})[kind]
        if (name, key) not in rows and not self.__dict__.get("_complete"):
            related = self.hists if kind == "hist" else self.metrics
            rows[(name, key)] = related.filter(name=name, element_key=key).first()
        return rows.get((name, key))

    def hist_for(self, name: str, labels: dict[str, Any] | None) -> dict | None:
        """The reference histogram (p3s-hist-1 JSON) of this name and element, or None.

        One small query per element asked for (remembered on this object), or none after
        :meth:`preload`.
        """
        row = self._row("hist", name, hist_key(labels))
        return row.body if row else None

    def metric_for(self, name: str, labels: dict[str, Any] | None) -> float | None:
        """The reference mean of this metric and element, or None."""
        row = self.metric_row(name, labels)
        return row.mean if row else None

    def metric_stats_for(
        self, name: str, labels: dict[str, Any] | None
    ) -> tuple[float, float | None] | None:
        """(mean, standard deviation) of this metric and element, or None when absent; the
        spread is None when one value made it (a single-run reference has no spread, and
        the check then uses its own tolerance)."""
        row = self.metric_row(name, labels)
        if row is None:
            return None
        return row.mean, (row.std if row.n > 1 and row.std > 0 else None)

    def metric_row(self, name: str, labels: dict[str, Any] | None) -> ReferenceMetric | None:
        """The reference metric row (mean, std, n) of this metric and element, or None."""
        return self._row("metric", name, metric_key(labels))


HIST_ID_LABELS = frozenset({"hist"})
#: A reference set belongs to one stream, so ``stream`` is not part of its rows' keys: the
#: checks name the stream on every element, the payloads' metrics may leave it out.
SET_LABELS = frozenset({"stream"})


def metric_labels(labels: dict[str, Any] | None) -> dict[str, str]:
    """A reference metric's element labels: the element labels without ``stream``."""
    return {k: v for k, v in element_labels(labels).items() if k not in SET_LABELS}


def metric_key(labels: dict[str, Any] | None) -> str:
    return element_key(metric_labels(labels))


def hist_labels(labels: dict[str, Any] | None) -> dict[str, str]:
    """A histogram's element labels: without ``hist`` (its name) and ``stream``."""
    return {k: v for k, v in metric_labels(labels).items() if k not in HIST_ID_LABELS}


def hist_key(labels: dict[str, Any] | None) -> str:
    return element_key(hist_labels(labels))


class ReferenceElement(models.Model):
    """What a reference keeps per detector element: a name and the element's labels."""

    name = models.CharField(max_length=100, help_text="hist or metric name, e.g. adc_rms")
    labels = models.JSONField(default=dict, blank=True, help_text="element labels")
    element_key = models.CharField(max_length=500)

    class Meta:
        abstract = True
        ordering = ["reference", "name", "element_key"]
        constraints = [
            # One row per name and element; ReferenceSet.hist_for / metric_for read one row
            # through this index (preload and the API read a set's rows by the FK index).
            models.UniqueConstraint(
                fields=["reference", "name", "element_key"], name="%(class)s_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.element_key}"


class ReferenceHist(ReferenceElement):
    """One histogram of a reference set, combined over its source data."""

    reference = models.ForeignKey(ReferenceSet, on_delete=models.CASCADE, related_name="hists")
    body = models.JSONField(help_text="p3s-hist-1 JSON")
    n_sources = models.PositiveIntegerField(default=1, help_text="products combined")

    class Meta(ReferenceElement.Meta):
        pass


class ReferenceMetric(ReferenceElement):
    """One metric of a reference set: mean, standard deviation and count over its sources."""

    reference = models.ForeignKey(ReferenceSet, on_delete=models.CASCADE, related_name="metrics")
    mean = models.FloatField()
    std = models.FloatField()
    n = models.PositiveIntegerField()

    class Meta(ReferenceElement.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.name} {self.element_key} = {self.mean:g}"
