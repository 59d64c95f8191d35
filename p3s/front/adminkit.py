"""Shared pieces of the expert admin: who may do what, and read-only model admins.

The admin is for experts (Django staff, or the ``expert`` group for staff accounts): they
see every model and edit DAG templates, alarm rules, retention rules and tokens. Records the
system writes itself (jobs, DAG runs, pilots, files, products, metrics, alarms) are read-only
there; operator actions on them go through the domain functions (``p3s.jobs.actions``).
"""

from __future__ import annotations

from django.contrib import admin

from p3s.accounts.models import Role
from p3s.front.access import viewer_roles


def is_expert(request) -> bool:
    return Role.EXPERT in viewer_roles(request)


class ExpertAdmin(admin.ModelAdmin):
    """Experts may view, add, change and delete."""

    def has_module_permission(self, request):
        return is_expert(request)

    def has_view_permission(self, request, obj=None):
        return is_expert(request)

    def has_add_permission(self, request):
        return is_expert(request)

    def has_change_permission(self, request, obj=None):
        return is_expert(request)

    def has_delete_permission(self, request, obj=None):
        return is_expert(request)


class ReadOnlyAdmin(ExpertAdmin):
    """Records the system writes: experts look, nobody edits by hand."""

    show_full_result_count = False  # one COUNT per page, not two, on big tables

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return is_expert(request)


def actor(request) -> str:
    return f"user:{request.user.get_username()}"
