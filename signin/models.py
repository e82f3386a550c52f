"""Sign-in policy (a singleton), recovery codes, and the session list's scoped view of
allauth's user sessions.

TOTP authenticators are allauth.mfa's `Authenticator` rows (type "totp"); the secret is
encrypted with a key derived from SECRET_KEY (signin.crypto) and the last accepted 30-second
step is kept in its data, so a code is never accepted twice (signin.two_factor).
"""

from __future__ import annotations

import hashlib
import hmac

from allauth.usersessions.models import UserSession
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from crm.models import Team, User


class SecurityPolicy(models.Model):
    """How people sign in, for the whole install (a singleton, pk=1; Settings → Security).

    Read on every request through `signin.policy.current()` (cached), so it is saved only
    through `signin.services.update_policy`, which refreshes that cache.
    """

    class TwoFactor(models.TextChoices):
        NOBODY = "nobody", "Nobody (optional for everyone)"
        STAFF = "staff", "Admins and managers"
        EVERYONE = "everyone", "Everyone"

    two_factor_required = models.CharField(
        max_length=16, choices=TwoFactor.choices, default=TwoFactor.NOBODY
    )
    sso_only = models.BooleanField(
        default=False,
        help_text="Passwords are refused for everyone but the break-glass admin.",
    )
    break_glass_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The one admin who may still sign in with a password when SSO is the only way.",
    )
    idle_timeout_minutes = models.PositiveIntegerField(
        default=12 * 60, validators=[MinValueValidator(5), MaxValueValidator(30 * 24 * 60)]
    )
    absolute_lifetime_hours = models.PositiveIntegerField(
        default=14 * 24, validators=[MinValueValidator(1), MaxValueValidator(90 * 24)]
    )
    jit_domains = models.TextField(
        blank=True,
        help_text="E-mail domains whose people get an account on their first single sign-on.",
    )
    jit_role = models.CharField(max_length=16, choices=User.Role.choices, default=User.Role.REP)
    jit_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "security policy"
        verbose_name_plural = "security policy"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="securitypolicy_singleton")]

    def __str__(self) -> str:
        return "Security policy"

    def domains(self) -> list[str]:
        """The just-in-time domains, lower-case, without a leading @."""
        parts = self.jit_domains.replace(",", " ").split()
        return sorted({part.strip().lstrip("@").lower() for part in parts if part.strip("@ ")})


def recovery_code_digest(code: str) -> str:
    """HMAC-SHA256 of a normalised code under the install's SECRET_KEY: a leaked table alone
    cannot be turned back into codes (each code has 50 random bits, too many to guess)."""
    normalised = "".join(code.split()).replace("-", "").lower()
    key = f"signin.recovery:{settings.SECRET_KEY}".encode()
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()


class RecoveryCode(models.Model):
    """One single-use recovery code of a user, stored only as its digest.

    Used by an UPDATE that matches only an unused row (`used_at IS NULL`), so two requests
    with the same code cannot both sign in. A new set deletes the old one.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes"
    )
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "digest"], name="recoverycode_unique_digest")
        ]

    def __str__(self) -> str:
        return f"recovery code of user #{self.user_id}"


class DeviceSessionQuerySet(models.QuerySet["DeviceSession"]):
    def visible_to(self, user: User) -> DeviceSessionQuerySet:
        """Everyone sees (and ends) only their own sessions, admins included."""
        return self.filter(user_id=user.pk)


class DeviceSession(UserSession):
    """allauth's record of one signed-in browser (IP, user agent, last seen), scoped."""

    objects = DeviceSessionQuerySet.as_manager()

    class Meta:
        proxy = True
        ordering = ["-last_seen_at"]
