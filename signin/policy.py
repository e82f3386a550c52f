"""The security policy as every request reads it: cached, so a page costs no query for it.

`current()` answers from the cache (Redis when configured, shared by every process); a miss
reads the row once. `signin.services.update_policy` refreshes the cache when an admin saves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.core.cache import cache

from crm.models import User
from signin.models import SecurityPolicy

CACHE_KEY = "signin:policy:v1"
CACHE_SECONDS = 300  # another process's save is seen within this long, at worst


@dataclass(frozen=True)
class Policy:
    two_factor_required: str = SecurityPolicy.TwoFactor.NOBODY
    sso_only: bool = False
    break_glass_user_id: int | None = None
    idle_timeout_minutes: int = 12 * 60
    absolute_lifetime_hours: int = 14 * 24

    @property
    def idle_timeout(self) -> timedelta:
        return timedelta(minutes=self.idle_timeout_minutes)

    @property
    def absolute_lifetime(self) -> timedelta:
        return timedelta(hours=self.absolute_lifetime_hours)

    def requires_two_factor(self, user: User) -> bool:
        """Whether `user` must have an authenticator app to use Plumb (API tokens aside)."""
        if self.two_factor_required == SecurityPolicy.TwoFactor.EVERYONE:
            return True
        if self.two_factor_required == SecurityPolicy.TwoFactor.STAFF:
            return user.is_admin or user.role == User.Role.MANAGER
        return False

    def allows_password(self, user: User | None) -> bool:
        """Passwords work unless SSO is the only way in, and then only for the break-glass
        admin (an active admin)."""
        if not self.sso_only:
            return True
        return (
            user is not None
            and user.pk == self.break_glass_user_id
            and user.is_active
            and user.is_admin
        )


def _from_row(row: SecurityPolicy) -> Policy:
    return Policy(
        two_factor_required=row.two_factor_required,
        sso_only=row.sso_only,
        break_glass_user_id=row.break_glass_user_id,
        idle_timeout_minutes=row.idle_timeout_minutes,
        absolute_lifetime_hours=row.absolute_lifetime_hours,
    )


def current() -> Policy:
    """The policy in force (defaults until an admin saves one)."""
    cached = cache.get(CACHE_KEY)
    if isinstance(cached, Policy):
        return cached
    row = SecurityPolicy.objects.filter(pk=1).first()
    policy = _from_row(row) if row is not None else Policy()
    cache.set(CACHE_KEY, policy, CACHE_SECONDS)
    return policy


def refresh(row: SecurityPolicy) -> Policy:
    policy = _from_row(row)
    cache.set(CACHE_KEY, policy, CACHE_SECONDS)
    return policy
