"""DRF authentication with p3s API tokens: ``Authorization: Token <key>``."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from rest_framework import authentication, exceptions

from p3s.accounts import token_cache
from p3s.accounts.models import ApiToken, hash_key


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
        try:
            token = ApiToken.objects.select_related("user").get(key_hash=key_hash)
        except ApiToken.DoesNotExist:
            raise exceptions.AuthenticationFailed(
                "unknown token: ask for one with manage.py p3s_token"
            ) from None
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
