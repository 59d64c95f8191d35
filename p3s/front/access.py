"""Who may see and do what on the operator pages.

Operators (group ``operator``) and experts (staff or group ``expert``) read every page and
act (retry, cancel, reprioritise, acknowledge). Anonymous visitors see nothing, and are sent
to the login page, unless ``P3S_PUBLIC_PAGES`` is on; even then they never act.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from p3s.accounts.models import Role
from p3s.accounts.roles import actor_of, roles_of


def public_pages() -> bool:
    return bool(settings.P3S.get("PUBLIC_PAGES"))


def viewer_roles(request) -> set[str]:
    """The request's roles, computed once per request (it costs a query for people)."""
    cached = getattr(request, "_p3s_roles", None)
    if cached is None:
        cached = roles_of(request)
        request._p3s_roles = cached
    return cached


def can_act(request) -> bool:
    return bool(viewer_roles(request) & {Role.OPERATOR, Role.EXPERT})


def can_edit(request) -> bool:
    return Role.EXPERT in viewer_roles(request)


def can_read(request) -> bool:
    return can_act(request) or public_pages()


def _to_login(request):
    query = urlencode({"next": request.get_full_path()})
    return HttpResponseRedirect(f"{settings.LOGIN_URL}?{query}")


def refuse(request):
    """Anonymous: to the login page. Logged in without a role: 403."""
    if not request.user.is_authenticated:
        return _to_login(request)
    return render(request, "front/forbidden.html", page_context(request, {}), status=403)


def page(view):
    """A page people read: operators and experts, or anyone when public pages are on."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        if not can_read(request):
            return refuse(request)
        return view(request, *args, **kwargs)

    return wrapper


def operator_action(view):
    """A POST form an operator submits (CSRF is checked by the middleware)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not can_act(request):
            return refuse(request)
        return view(request, *args, **kwargs)

    return wrapper


def actor(request) -> str:
    return actor_of(request)


def back(request, default: str) -> HttpResponseRedirect:
    """Redirect to the form's ``next`` when it is on this site, else to ``default``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, request.is_secure()
    ):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(default)


def page_context(request, ctx: dict) -> dict:
    base = {
        "can_act": can_act(request),
        "can_edit": can_edit(request),
        "public": public_pages(),
    }
    base.update(ctx)
    return base
