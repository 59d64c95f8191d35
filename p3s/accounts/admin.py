"""Expert admin for API tokens: a new token's key is shown once, right after it is made."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html

from p3s.accounts.models import ApiToken
from p3s.front.adminkit import ExpertAdmin, actor


@admin.register(ApiToken)
class ApiTokenAdmin(ExpertAdmin):
    list_display = ["name", "role", "prefix", "user", "created", "last_used", "revoked"]
    list_filter = ["role", "revoked"]
    search_fields = ["name", "prefix"]
    raw_id_fields = ["user"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "role", "user"]
        return ["name", "role", "prefix", "user", "created", "last_used", "revoked"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["role", "prefix", "user", "created", "last_used"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = ApiToken.issue(obj.name, obj.role, user=obj.user)
        for f in ApiToken._meta.concrete_fields:
            setattr(obj, f.attname, getattr(token, f.attname))
        obj._state.adding = False
        messages.warning(
            request,
            format_html(
                "The key of token <b>{}</b> ({}) is <code id='new-token-key'>{}</code> &mdash; copy it now: "
                "only its hash is stored, it will not be shown again.",
                token.name,
                token.role,
                key,
            ),
        )

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        n = queryset.update(revoked=True)
        self.message_user(request, f"{n} token(s) revoked by {actor(request)}")
