"""DRF authentication with p3s API tokens: ``Authorization: Token <key>``."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.utils import timezone
from rest_framework import authentication, exceptions

from p3s.accounts import token_cache
from p3s.accounts.models import ApiToken, hash_key
from p3s.jobs import rows


def _wants_cache(request) -> bool:
    """Whether the view is a pilot hot-path action that re-checks revocation itself."""
    view = (getattr(request, "parser_context", None) or {}).get("view")
    return getattr(view, "action", None) in getattr(view, "token_cache_actions", ())


class TokenUser(AnonymousUser):
    """The principal of a machine token without a person behind it."""

    def __init__(self, token: ApiToken):
        super().__init__()
        self.token = token
        self.username = f"{token.role}:{token.name}"

    @property
    def is_authenticated(self) -> bool:  # type: ignore[override]
        return True

    @property
    def is_anonymous(self) -> bool:  # type: ignore[override]
        return False

    def __str__(self) -> str:
        return self.username


def _prepare_token() -> str:
    t, u = ApiToken._meta.db_table, get_user_model()._meta.db_table
    return (
        f"PREPARE p3s_token(text) AS SELECT {rows.columns(ApiToken, 't')},"
        f" {rows.columns(get_user_model(), 'u')} FROM {t} t LEFT JOIN {u} u ON u.id = t.user_id"
        " WHERE t.key_hash = $1"
    )


def _by_hash(key_hash: str) -> ApiToken | None:
    """The token with its user (every authenticated request asks): on PostgreSQL a statement
    prepared once per session, as the pilots' hot-path reads are (p3s.jobs.rows)."""
    if connection.vendor != "postgresql":
        return ApiToken.objects.select_related("user").filter(key_hash=key_hash).first()
    with connection.cursor() as cur:
        rows.ensure_prepared(cur, "p3s_token", _prepare_token)
        cur.execute("EXECUTE p3s_token(%s)", [key_hash])
        row = cur.fetchone()
    if row is None:
        return None
    n = len(ApiToken._meta.concrete_fields)
    token = rows.from_row(ApiToken, row[:n])
    if token.user_id is not None:
        token.user = rows.from_row(get_user_model(), row[n:])
    return token


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "malformed Authorization header: send 'Authorization: Token <key>'"
            )
        try:
            key = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("token contains invalid characters") from None
        key_hash = hash_key(key)
        cached = _wants_cache(request)
        token = token_cache.get(key_hash) if cached else None
        if token is not None:
            return TokenUser(token), token
        token = _by_hash(key_hash)
        if token is None:
            raise exceptions.AuthenticationFailed(
                "unknown token: ask for one with manage.py p3s_token"
            )
        if token.revoked:
            raise exceptions.AuthenticationFailed(f"token {token.prefix}... was revoked")
        now = timezone.now()
        if token.last_used is None or (now - token.last_used).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        if cached and not token.user_id:
            token_cache.put(key_hash, token)
        user = token.user if token.user_id else TokenUser(token)
        return user, token

    def authenticate_header(self, request) -> str:
        return self.keyword
