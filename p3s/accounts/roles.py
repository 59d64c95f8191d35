"""Who may do what. One place that maps requests to roles and DRF permission classes.

Token requests carry their role on the token. People (session login) are operators when
they are in the ``operator`` group, experts when staff or in the ``expert`` group.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from p3s.accounts.models import ApiToken, Role

# Which roles satisfy a required role (expert can do everything an operator can).
IMPLIES = {
    Role.DAQ: {Role.DAQ},
    Role.PILOT: {Role.PILOT},
    Role.OPERATOR: {Role.OPERATOR, Role.EXPERT},
    Role.EXPERT: {Role.EXPERT},
}


def roles_of(request) -> set[str]:
    """The roles a request holds (empty for anonymous)."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiToken):
        return {auth.role}
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return set()
    roles: set[str] = set()
    groups = {g.name for g in user.groups.all()}
    if user.is_superuser or user.is_staff or Role.EXPERT in groups:
        roles |= {Role.EXPERT, Role.OPERATOR}
    if Role.OPERATOR in groups:
        roles.add(Role.OPERATOR)
    return roles


def has_role(request, role: str) -> bool:
    return bool(roles_of(request) & IMPLIES[Role(role)])


def actor_of(request) -> str:
    """A short name for event rows: who did it."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiToken):
        return f"{auth.role}:{auth.name}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.get_username()}"
    return "anonymous"


class _RolePermission(BasePermission):
    roles: tuple[str, ...] = ()
    message = "this needs one of the roles: {}"

    def has_permission(self, request, view) -> bool:
        ok = any(has_role(request, r) for r in self.roles)
        if not ok:
            self.message = f"this needs the role {' or '.join(self.roles)}"
        return ok


class IsDaq(_RolePermission):
    roles = (Role.DAQ,)


class IsPilot(_RolePermission):
    roles = (Role.PILOT,)


class IsOperator(_RolePermission):
    roles = (Role.OPERATOR,)


class IsExpert(_RolePermission):
    roles = (Role.EXPERT,)


class ReadOperatorWriteExpert(BasePermission):
    """Reading needs an operator, writing an expert."""

    message = "reading needs the role operator, writing the role expert"

    def has_permission(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return has_role(request, Role.OPERATOR)
        return has_role(request, Role.EXPERT)


class IsOperatorOrPilot(_RolePermission):
    """The summary: operators read it, and so does the factory with the pilots' token."""

    roles = (Role.OPERATOR, Role.PILOT)
