"""Which staging area new outputs go to: the configured areas and the one in use.

``P3S_STAGING_PRIMARY`` (default ``file://<P3S_DATA_ROOT>/outputs``) and
``P3S_STAGING_FALLBACK`` (default none) name the areas by URL. The claim
(:func:`p3s.api.views.job_spec`) asks :func:`output_dirs` for the job's ``output_dir`` on
the area in use and its ``output_fallback`` on the other one. An area on a local file system
is given as a plain path, as before staging areas existed, so payloads write into it
directly; a remote one (``root://``, ``https://``) as a URL, and the pilot publishes the
outputs there (:func:`pilot.transfer.publish_outputs`).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

import storage
from p3s.staging.models import Role, StagingArea


def _clean(url: str) -> str:
    """``url`` without a trailing slash (but ``/`` and ``root://host//`` stay as they are)."""
    url = url.strip()
    while url.endswith("/") and not url.endswith("//") and len(url) > 1:
        url = url[:-1]
    return url


def configured() -> dict[str, str]:
    """``{role: url}`` of the configured areas (the primary always, the fallback if set)."""
    cfg = settings.STAGING
    primary = cfg["PRIMARY"] or (Path(settings.DATA_ROOT) / "outputs").as_uri()
    areas = {Role.PRIMARY.value: _clean(primary)}
    if cfg["FALLBACK"].strip():
        areas[Role.FALLBACK.value] = _clean(cfg["FALLBACK"])
    return areas


def in_use(areas: dict[str, str] | None = None) -> str:
    """The role of the area new work goes to (one query): the row marked in use, if it still
    names a configured area with the same URL, else the primary."""
    areas = configured() if areas is None else areas
    if len(areas) == 1:  # no fallback configured: nothing to look up (every claim asks)
        return Role.PRIMARY.value
    row = StagingArea.objects.filter(in_use=True).values_list("role", "url").first()
    if row is not None and areas.get(row[0]) == row[1]:
        return row[0]
    return Role.PRIMARY.value


def where(area_url: str, *parts: str) -> str:
    """``parts`` under the area: a plain path for a local area, else a URL."""
    if storage.scheme_of(area_url) in ("", "file"):
        from storage.local import path_of

        return str(path_of(area_url).joinpath(*parts))
    return storage.join(area_url, *parts)


def output_dirs(*parts: str) -> tuple[str, str]:
    """(``output_dir``, ``output_fallback``) for a job whose outputs go to ``parts``:
    on the area in use, and on the other configured area ('' when there is none)."""
    areas = configured()
    role = in_use(areas)
    other = next((url for r, url in areas.items() if r != role), "")
    return where(areas[role], *parts), (where(other, *parts) if other else "")
