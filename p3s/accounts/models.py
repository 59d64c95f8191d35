"""API tokens with roles. Machines (DAQ, pilots) use tokens; people use Django accounts."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    DAQ = "daq", "DAQ: announces files"
    PILOT = "pilot", "pilot: registers, claims, reports"
    OPERATOR = "operator", "operator: reads everything, acts on jobs and alarms"
    EXPERT = "expert", "expert: operator + edits DAG templates"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A random URL-safe key (256 bits) that does not start with "-": one that did (one in
    64) would be taken for an option by every command line given ``--token KEY``."""
    while (key := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return key


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 is stored; the key is shown once, at creation."""

    name = models.CharField(max_length=100)
    role = models.CharField(max_length=16, choices=Role.choices)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=8, editable=False, help_text="first characters, to recognise it"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        help_text="the person a personal token belongs to (operator/expert tokens)",
    )
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.role}, {self.prefix}...)"

    @classmethod
    def issue(cls, name: str, role: str, user=None) -> tuple[ApiToken, str]:
        """Create a token and return it with its key (the only time the key is seen)."""
        if role not in Role.values:
            raise ValueError(f"unknown role {role!r}: use one of {', '.join(Role.values)}")
        key = new_key()
        token = cls.objects.create(
            name=name, role=role, key_hash=hash_key(key), prefix=key[:8], user=user
        )
        return token, key
