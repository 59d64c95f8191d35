"""A short-lived, per-process cache of pilot tokens for the pilot hot path.

Every pilot call (heartbeat, claim, report) used to read its API token (one query) and
then its pilot row (another). On the hot path the token is now taken from this cache for
at most ``P3S["TOKEN_CACHE_SECONDS"]`` (default 5 s, 0 turns it off), and only for the
views that ask for it (``token_cache_actions`` on the view): each of those reads the
pilot row anyway, and that read joins the token and refuses a revoked one
(:func:`p3s.pilots.services.authenticate`, :func:`~p3s.pilots.services.by_key`), so a
revocation takes effect on the very next request, cached or not. Every other view reads
the token from the database as before.
"""

from __future__ import annotations

import threading
import time

from django.conf import settings

from p3s.accounts.models import ApiToken

_lock = threading.Lock()
_tokens: dict[str, tuple[float, ApiToken]] = {}
MAX_ENTRIES = 10_000


def ttl() -> float:
    return float(settings.P3S.get("TOKEN_CACHE_SECONDS", 5.0))


def get(key_hash: str) -> ApiToken | None:
    """The token cached under ``key_hash`` if it is younger than the TTL."""
    hit = _tokens.get(key_hash)
    if hit is None:
        return None
    if time.monotonic() - hit[0] > ttl():
        _tokens.pop(key_hash, None)
        return None
    return hit[1]


def put(key_hash: str, token: ApiToken) -> None:
    if ttl() <= 0 or token.role != "pilot" or token.revoked:
        return
    with _lock:
        if len(_tokens) >= MAX_ENTRIES:
            _tokens.clear()
        _tokens[key_hash] = (time.monotonic(), token)


def forget(key_hash: str | None = None) -> None:
    """Drop one entry (or all): called when a token is revoked in this process."""
    with _lock:
        if key_hash is None:
            _tokens.clear()
        else:
            _tokens.pop(key_hash, None)
