"""Two-factor: enrol an authenticator app (TOTP, RFC 6238), recovery codes, check a code,
disable, and an admin's reset.

The TOTP primitives and the login stage are allauth.mfa's; what is ours:
- a code is accepted once: the last accepted 30-second step is stored on the authenticator
  and the check-and-store happens under a row lock, so a replay (or two concurrent requests
  with one code) fails, in every process;
- recovery codes are stored as HMAC digests (signin.models.RecoveryCode) and used by a
  conditional UPDATE, so each works exactly once;
- every change is audited and ends the user's other sessions.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from dataclasses import dataclass
from enum import Enum

from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, generate_totp_secret, hotp_value
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm import audit, outbox
from crm.models import User
from signin import crypto, mail, sessions
from signin.models import RecoveryCode, recovery_code_digest

RECOVERY_CODE_COUNT = 10
_DIGITS = re.compile(r"\d{6}")
_RECOVERY = re.compile(r"[a-z2-7]{10}")


class CodeResult(Enum):
    OK = "ok"
    MALFORMED = "malformed"
    WRONG = "wrong"
    REPLAYED = "replayed"


def has_two_factor(user: User) -> bool:
    """Whether the user has an authenticator app (one query)."""
    return Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).exists()


def authenticator_for(user: User, kind: str) -> Authenticator:
    """The allauth authenticator a successful code step is recorded on (the TOTP one: the
    recovery codes belong to it)."""
    authenticator = Authenticator.objects.get(user_id=user.pk, type=Authenticator.Type.TOTP)
    authenticator.user = user
    return authenticator


def new_secret() -> str:
    return generate_totp_secret()


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the QR code (inline SVG made here) and the secret."""

    secret: str
    uri: str
    qr_svg: str

    @property
    def grouped_secret(self) -> str:
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))


def enrolment(*, user: User, secret: str) -> Enrolment:
    adapter = get_mfa_adapter()
    uri = adapter.build_totp_url(user, secret)
    svg = adapter.build_totp_svg(uri)
    svg = svg[svg.index("<svg") :]  # drop the XML declaration: the SVG sits inside HTML
    return Enrolment(secret=secret, uri=uri, qr_svg=svg)


def normalise_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _step_of(secret: str, code: str, *, now: float) -> int | None:
    """The 30-second step (within one step of now) whose code `code` is, or None."""
    period, tolerance = settings.MFA_TOTP_PERIOD, settings.MFA_TOTP_TOLERANCE
    current = int(now) // period
    for step in range(current - tolerance, current + tolerance + 1):
        if secrets.compare_digest(format_hotp_value(hotp_value(secret, step)), code):
            return step
    return None


def _new_recovery_codes() -> list[str]:
    """Ten codes of 50 random bits each, shown as "abcde-fghij"."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()[:10]
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def _store_recovery_codes(user: User) -> list[str]:
    RecoveryCode.objects.filter(user_id=user.pk).delete()
    codes = _new_recovery_codes()
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user_id=user.pk, digest=recovery_code_digest(code)) for code in codes
    )
    return codes


@transaction.atomic
def enrol(*, user: User, secret: str, code: str) -> list[str]:
    """Turn on two-factor with `secret` once `code` proves the app has it. Returns the ten
    recovery codes (shown once; only their digests are kept). The code used here cannot be
    used again to sign in."""
    cleaned = normalise_code(code)
    if not _DIGITS.fullmatch(cleaned):
        raise ValidationError({"code": "Enter the 6-digit code your app shows."})
    step = _step_of(secret, cleaned, now=time.time())
    if step is None:
        raise ValidationError(
            {"code": "That code does not match. Check the clock of your phone and try again."}
        )
    try:
        with transaction.atomic():
            Authenticator.objects.create(
                user=user,
                type=Authenticator.Type.TOTP,
                data={"secret": crypto.encrypt(secret), "last_step": step},
            )
    except IntegrityError as error:  # enrolled meanwhile (another tab)
        raise ValidationError({"code": "Two-factor is already on for your account."}) from error
    codes = _store_recovery_codes(user)
    audit.record(actor=user, action="user.2fa_enrol", target=user, changes={"method": "totp"})
    return codes


def check_totp(*, user: User, code: str, now: float | None = None) -> CodeResult:
    """Check an authenticator code and, when right, spend it: the step is stored under a row
    lock, so the same (or an older) code is refused afterwards."""
    cleaned = normalise_code(code)
    if not _DIGITS.fullmatch(cleaned):
        return CodeResult.MALFORMED
    with transaction.atomic():
        authenticator = (
            Authenticator.objects.select_for_update()
            .filter(user_id=user.pk, type=Authenticator.Type.TOTP)
            .first()
        )
        if authenticator is None:
            return CodeResult.WRONG
        secret = crypto.decrypt(authenticator.data["secret"])
        step = _step_of(secret, cleaned, now=time.time() if now is None else now)
        if step is None:
            return CodeResult.WRONG
        if step <= int(authenticator.data.get("last_step", -1)):
            return CodeResult.REPLAYED
        authenticator.data["last_step"] = step
        authenticator.last_used_at = timezone.now()
        authenticator.save(update_fields=["data", "last_used_at"])
    return CodeResult.OK


def use_recovery_code(*, user: User, code: str) -> CodeResult:
    """Spend one recovery code: the UPDATE matches only while the code is unused."""
    cleaned = normalise_code(code)
    if not _RECOVERY.fullmatch(cleaned):
        return CodeResult.MALFORMED
    used = RecoveryCode.objects.filter(
        user_id=user.pk, digest=recovery_code_digest(cleaned), used_at__isnull=True
    ).update(used_at=timezone.now())
    if used != 1:
        return CodeResult.WRONG
    audit.record(
        actor=user,
        action="user.2fa_recovery_used",
        target=user,
        changes={"left": unused_recovery_codes(user)},
    )
    return CodeResult.OK


def looks_like_recovery_code(code: str) -> bool:
    return bool(_RECOVERY.fullmatch(normalise_code(code)))


def unused_recovery_codes(user: User) -> int:
    return RecoveryCode.objects.filter(user_id=user.pk, used_at__isnull=True).count()


@transaction.atomic
def regenerate_recovery_codes(*, user: User) -> list[str]:
    """A new set of ten; the old codes stop working."""
    if not has_two_factor(user):
        raise ValidationError("Turn on two-factor first.")
    codes = _store_recovery_codes(user)
    audit.record(actor=user, action="user.2fa_recovery_regenerate", target=user, changes={})
    return codes


def _remove(user: User) -> int:
    deleted, _ = Authenticator.objects.filter(user_id=user.pk).delete()
    RecoveryCode.objects.filter(user_id=user.pk).delete()
    return deleted


@transaction.atomic
def disable(*, user: User, code: str) -> None:
    """The user turns two-factor off, proving it with a current code (or a recovery code)."""
    result = (
        use_recovery_code(user=user, code=code)
        if looks_like_recovery_code(code)
        else check_totp(user=user, code=code)
    )
    if result is not CodeResult.OK:
        raise ValidationError({"code": "That code does not match."})
    _remove(user)
    audit.record(actor=user, action="user.2fa_disable", target=user, changes={})


@transaction.atomic
def reset(*, by: User, user: User) -> bool:
    """An admin clears a user's two-factor (lost phone): the user must enrol again, every
    session of theirs ends, and they are told by e-mail. Returns False when nothing was on."""
    if not by.is_admin:
        raise ValidationError("Only admins reset two-factor.")
    if not _remove(user):
        return False
    sessions.end_other_sessions(user=user, keep=None, by=by, reason="two-factor reset")
    audit.record(actor=by, action="user.2fa_reset", target=user, changes={})
    if outbox.mailable(user):  # an unusable address must not undo the reset
        context = {"user": user, "by": by, "site_url": settings.SITE_URL}
        mail.send_template(
            kind="signin.two_factor_reset",
            to=user.email,
            template="email/two_factor_reset",
            subject="Your Plumb CRM two-factor sign-in was reset",
            context=context,
            recipient=user,
        )
    return True
