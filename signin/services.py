"""Settings → Security: the policy and the OpenID Connect providers (admins only, audited).

Two-factor operations live in signin.two_factor, sessions in signin.sessions.
"""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialApp
from django.core.exceptions import ValidationError
from django.db import transaction

from crm import audit
from crm.models import User
from crm.permissions import is_admin, require
from signin import policy
from signin.models import SecurityPolicy

POLICY_FIELDS = (
    "two_factor_required",
    "sso_only",
    "break_glass_user",
    "idle_timeout_minutes",
    "absolute_lifetime_hours",
    "jit_domains",
    "jit_role",
    "jit_team",
)


def load_policy() -> SecurityPolicy:
    row, _ = SecurityPolicy.objects.get_or_create(pk=1)
    return row


def _snapshot(row: SecurityPolicy) -> dict[str, Any]:
    return {
        f: getattr(row, f"{f}_id") if f in ("break_glass_user", "jit_team") else getattr(row, f)
        for f in POLICY_FIELDS
    }


@transaction.atomic
def update_policy(*, by: User, **changes: Any) -> SecurityPolicy:
    """Save the policy. "SSO only" needs an active admin as break-glass (the install must
    keep one way in if the provider is down) and at least one provider."""
    require(is_admin(by), "Only admins change the security policy.")
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError({"__all__": f"Cannot change {', '.join(sorted(unknown))} here."})
    row = SecurityPolicy.objects.select_for_update().filter(pk=1).first() or SecurityPolicy(pk=1)
    before = _snapshot(row)
    for field, value in changes.items():
        setattr(row, field, value)
    if row.sso_only:
        glass = row.break_glass_user
        if glass is None or not glass.is_active or not glass.is_admin:
            raise ValidationError(
                {"break_glass_user": "Choose an active admin who may still use a password."}
            )
        if not provider_ids():
            raise ValidationError({"sso_only": "Add a single sign-on provider first."})
    row.full_clean()
    row.save()
    delta = audit.diff(before, _snapshot(row))
    if delta:
        audit.record(actor=by, action="security.policy", target=row, changes=delta)
    policy.refresh(row)  # every check above has passed: this save commits with it
    return row


def provider_ids() -> list[str]:
    """Every configured provider's short name: the database's and the environment's."""
    return [app.provider_id for app in get_adapter().list_apps(None, provider="openid_connect")]


@transaction.atomic
def save_provider(
    *,
    by: User,
    app: SocialApp | None,
    name: str,
    provider_id: str,
    issuer: str,
    client_id: str,
    secret: str,
) -> SocialApp:
    """Create or edit an OpenID Connect provider (the secret is kept when left empty)."""
    require(is_admin(by), "Only admins configure single sign-on.")
    taken = SocialApp.objects.filter(provider="openid_connect", provider_id=provider_id)
    if app is not None:
        taken = taken.exclude(pk=app.pk)
    if taken.exists() or (app is None and provider_id in provider_ids()):
        raise ValidationError({"provider_id": "Another provider has that short name."})
    if app is None and not secret:
        raise ValidationError({"secret": "Enter the client secret."})
    creating = app is None
    app = app or SocialApp(provider="openid_connect")
    before = {
        "name": app.name,
        "provider_id": app.provider_id,
        "issuer": app.settings.get("server_url", ""),
        "client_id": app.client_id,
    }
    app.name, app.provider_id, app.client_id = name, provider_id, client_id
    app.settings = {**(app.settings or {}), "server_url": issuer}
    if secret:
        app.secret = secret
    app.save()
    after = {"name": name, "provider_id": provider_id, "issuer": issuer, "client_id": client_id}
    changes: dict[str, Any] = audit.diff(before, after)
    if secret:
        changes["secret"] = "changed"
    audit.record(
        actor=by,
        action="security.provider_create" if creating else "security.provider_update",
        target=app,
        changes=changes,
        label=name,
    )
    return app


@transaction.atomic
def delete_provider(*, by: User, app: SocialApp) -> None:
    """Remove a provider. Refused while it is the last one and SSO is the only way in."""
    require(is_admin(by), "Only admins configure single sign-on.")
    if policy.current().sso_only and len(provider_ids()) <= 1:
        raise ValidationError("Turn off “Single sign-on only” before removing the last provider.")
    audit.record(
        actor=by,
        action="security.provider_delete",
        target=app,
        changes={"provider_id": app.provider_id},
        label=app.name,
    )
    app.delete()
