"""Shipped defaults: version 1 of each condition, from the JSON files in ``defaults/``.

The data migration calls :func:`load_defaults` so a fresh install has them; a name that
already has a version is left alone (experts' versions are never overwritten).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from p3s.conditions.models import Condition, digest_of

DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"
SHIPPED_OWNER = "p3s (shipped default)"


def shipped_defaults() -> dict[str, dict[str, Any]]:
    """``{name: data}`` of every file ``defaults/<name>.json``."""
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(DEFAULTS_DIR.glob("*.json"))
    }


def load_defaults(condition_model=None) -> list[str]:
    """Create version 1 of each shipped condition that has no version yet; returns their names.

    ``condition_model`` is the historical model inside a migration (default: the real one).
    """
    condition_model = condition_model or Condition
    created = []
    for name, data in shipped_defaults().items():
        if condition_model.objects.filter(name=name).exists():
            continue
        condition_model.objects.create(
            name=name,
            version=1,
            data=data,
            digest=digest_of(data),
            owner=SHIPPED_OWNER,
            comment=f"shipped default from p3s/conditions/defaults/{name}.json",
        )
        created.append(name)
    return created
