"""Knobs of p3s.archive, read from the environment (documented in docs/configuration.md)."""

from __future__ import annotations

from django.conf import settings

from p3s.env import env_float, env_int, env_list

# Seconds between two archive passes of the sweeper (0: every sweep).
INTERVAL = env_float("P3S_ARCHIVE_INTERVAL", 60.0, 0.0)
# Per pass: DAG runs looked at, files copied, job rows pruned.
RUN_BATCH = env_int("P3S_ARCHIVE_RUN_BATCH", 50, 1)
COPY_BATCH = env_int("P3S_ARCHIVE_COPY_BATCH", 20, 1)
PRUNE_BATCH = env_int("P3S_PRUNE_BATCH", 5000, 1)
# A file is kept while its data are newer than the oldest live DAG run's data minus this
# (seconds): stream matching (p3s.dags.matching) may still ask for it.
LIVE_MARGIN = env_float("P3S_PRUNE_LIVE_MARGIN", 86400.0, 0.0)


def staging_roots() -> list[str]:
    """URL prefixes under which job outputs may be deleted; nothing outside them ever is."""
    from p3s.staging.areas import configured

    # The default layout's folder and every configured staging area (primary, fallback).
    default = ",".join([str(settings.DATA_ROOT / "outputs"), *configured().values()])
    return [r for r in env_list("P3S_ARCHIVE_STAGING_ROOTS", default) if r]
