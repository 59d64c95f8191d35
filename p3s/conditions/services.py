"""Conditions: the current version for a run, new versions, and what the API and claims hand out.

A condition is never changed in place: :func:`new_version` writes version N+1 of a name and
:func:`current_condition` picks the newest version whose validity covers the run (and the
data time). Claims carry :func:`condition_urls`, one URL per name pinned to the version
current for the job's run, so a pilot's cached copy stays valid until a new version exists.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from p3s.conditions.models import Condition, digest_of, iso


def _valid(qs: QuerySet[Condition], run: int | None, at: datetime | None) -> QuerySet[Condition]:
    if run is not None:
        qs = qs.filter(
            Q(valid_from_run__isnull=True) | Q(valid_from_run__lte=run),
            Q(valid_to_run__isnull=True) | Q(valid_to_run__gte=run),
        )
    at = at or timezone.now()
    return qs.filter(
        Q(valid_from__isnull=True) | Q(valid_from__lte=at),
        Q(valid_to__isnull=True) | Q(valid_to__gt=at),
    )


def current_condition(name: str, run: int | None = None, at: datetime | None = None):
    """The newest version of ``name`` valid for ``run`` at data time ``at`` (default now).

    Without a run, run ranges are not looked at: the newest version valid now. None when no
    version applies.
    """
    return _valid(Condition.objects.filter(name=name), run, at).order_by("-version").first()


def current_versions(run: int | None = None, at: datetime | None = None) -> dict[str, int]:
    """``{name: version}`` of every condition current for the run: this process's copy of
    the versions' validity (:mod:`p3s.conditions.current`) or one query, no data loaded."""
    from p3s.conditions import current

    kept = current.current_versions(run, at)
    if kept is not None:
        return kept
    out: dict[str, int] = {}
    rows = _valid(Condition.objects.all(), run, at).order_by("name", "-version")
    for name, version in rows.values_list("name", "version"):
        out.setdefault(name, version)
    return out


def condition_urls(run: int, at: datetime | None, request) -> dict[str, str]:
    """What a claim's job spec carries: ``{name: absolute URL of the version for this run}``."""
    return {
        name: condition_url(request, name, version)
        for name, version in current_versions(run, at).items()
    }


def condition_url(request, name: str, version: int) -> str:
    """The absolute URL of one version: immutable content, so caches keep it long."""
    path = reverse("condition-detail", kwargs={"name": name})
    return request.build_absolute_uri(f"{path}?version={version}")


def new_version(
    name: str,
    data: dict[str, Any],
    *,
    owner: str = "",
    comment: str = "",
    valid_from_run: int | None = None,
    valid_to_run: int | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
) -> Condition:
    """Write the next version of ``name`` (checked first; raises ValidationError if bad)."""
    condition = Condition(
        name=name,
        data=data,
        owner=owner,
        comment=comment,
        valid_from_run=valid_from_run,
        valid_to_run=valid_to_run,
        valid_from=valid_from,
        valid_to=valid_to,
    )
    condition.full_clean(exclude=["version", "digest"])
    return save_as_next_version(condition)


def save_as_next_version(condition: Condition) -> Condition:
    """Save an unsaved (already checked) condition as the next version of its name."""
    for _ in range(5):
        latest = Condition.objects.filter(name=condition.name).aggregate(v=Max("version"))["v"]
        condition.version = (latest or 0) + 1
        try:
            with transaction.atomic():
                condition.save()
            return condition
        except IntegrityError:  # someone else took this version number: take the next one
            condition.pk = None
            condition._state.adding = True
    raise IntegrityError(f"could not number a new version of condition {condition.name!r}")


def as_dict(condition: Condition) -> dict[str, Any]:
    """The API body of one condition version (INTERFACES.md section 4)."""
    return {
        "name": condition.name,
        "version": condition.version,
        "valid_from_run": condition.valid_from_run,
        "valid_to_run": condition.valid_to_run,
        "valid_from": iso(condition.valid_from),
        "valid_to": iso(condition.valid_to),
        "owner": condition.owner,
        "comment": condition.comment,
        "updated": iso(condition.updated),
        "digest": condition.digest,
        "data": condition.data,
    }


def etag_of(condition: Condition) -> str:
    """A strong ETag: the version and its content (rows are immutable, so this is stable)."""
    return f'"{condition.name}-v{condition.version}-{condition.digest[:20]}"'


__all__ = [
    "as_dict",
    "condition_url",
    "condition_urls",
    "current_condition",
    "current_versions",
    "digest_of",
    "etag_of",
    "new_version",
    "save_as_next_version",
]
