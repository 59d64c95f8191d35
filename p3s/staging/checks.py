"""System check: the staging settings name areas a backend can write, and make sense."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register

import storage


@register()
def staging_settings(app_configs, **kwargs):
    from p3s.staging.areas import configured

    errors = []
    areas = configured()
    for role, url in areas.items():
        try:
            storage.check_url(url, load=False)
        except storage.UnsupportedScheme as exc:
            errors.append(
                Error(
                    f"P3S_STAGING_{role.upper()}={url!r}: {exc.reason}",
                    hint="use file://, root:// or https://",
                    id="p3s.staging.E001",
                )
            )
    if len(set(areas.values())) < len(areas):
        errors.append(
            Error(
                "P3S_STAGING_FALLBACK is the same area as P3S_STAGING_PRIMARY",
                hint="name another area, or leave the fallback empty",
                id="p3s.staging.E002",
            )
        )
    full = settings.STAGING["FULL_FRACTION"]
    if not 0.0 < full <= 1.0:
        errors.append(
            Error(f"P3S_STAGING_FULL_FRACTION={full!r} must be in (0, 1]", id="p3s.staging.E003")
        )
    return errors
