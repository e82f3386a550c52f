"""Who may do what, by role: the one place pages, services and the API ask.

Record visibility (own / team subtree / all) is a different question, answered by each model's
`visible_to(user)`; this module answers "may this person use this part of Plumb at all".
Admins (and superusers) pass every check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from rest_framework import permissions as drf_permissions
from rest_framework.request import Request

from crm.models import User

Role = User.Role


def has_role(user: User | AnonymousUser | None, *roles: str) -> bool:
    """True for an active signed-in user whose role is one of `roles`, and for every admin."""
    if not isinstance(user, User) or not user.is_active:
        return False
    return user.is_admin or user.role in roles


def is_admin(user: User | AnonymousUser | None) -> bool:
    return has_role(user)


def is_manager_or_admin(user: User | AnonymousUser | None) -> bool:
    """Team configuration: users and teams of their subtree, pipelines, routing, follow-up."""
    return has_role(user, Role.MANAGER)


def is_marketing_or_admin(user: User | AnonymousUser | None) -> bool:
    """Marketing's tools: lead import, the scoring model, engagement events."""
    return has_role(user, Role.MARKETING)


def require(allowed: bool, message: str) -> None:
    """Raise PermissionDenied (a 403 page, or a DRF 403 with `message`) unless `allowed`.

    >>> require(is_manager_or_admin(request.user), "Only managers and admins configure pipelines.")
    """
    if not allowed:
        raise PermissionDenied(message)


def role_permission(
    check: Callable[[User | AnonymousUser | None], bool], message: str, *, read_open: bool = False
) -> type[drf_permissions.BasePermission]:
    """A DRF permission class from a role check. With `read_open`, safe methods are open to
    every signed-in user (the visibility scope still narrows what they read)."""

    class RolePermission(drf_permissions.BasePermission):
        def __init__(self) -> None:
            self.message = message

        def has_permission(self, request: Request, view: Any) -> bool:
            if read_open and request.method in drf_permissions.SAFE_METHODS:
                return True
            return check(request.user)

    RolePermission.__name__ = f"RolePermission_{check.__name__}"
    return RolePermission
