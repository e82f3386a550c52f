"""Signed-in sessions: start, note activity, expire (idle timeout, absolute lifetime), list, end.

Each browser session carries three stamps in the Django session: when it signed in, when it
was last active (noted at most once a minute, so pages do not write on every request) and
whether its user had two-factor at that moment. allauth.usersessions keeps the row the
Settings → Sessions page lists (`DeviceSession`, its scoped proxy); ending a session deletes
both the Django session (the browser is signed out at its next request) and the row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from crm import audit
from crm.middleware import client_ip
from crm.models import User
from signin import devices
from signin.models import DeviceSession
from signin.policy import Policy

STARTED = "signin.started"
SEEN = "signin.seen"
TWO_FACTOR = "signin.2fa"
TOUCH_EVERY = 60  # seconds between two "last active" writes of one session
UNKNOWN_IP = "0.0.0.0"


def _db_sessions() -> bool:
    return settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"


def start(request: HttpRequest, user: User, *, has_two_factor: bool) -> None:
    """Stamp a freshly signed-in session and list it (called on every sign-in)."""
    now = time.time()
    session = request.session
    session[STARTED] = now
    session[SEEN] = now
    session[TWO_FACTOR] = has_two_factor
    _list(request, user)


def _list(request: HttpRequest, user: User) -> None:
    session = request.session
    if not session.session_key:
        session.save()
    ua = request.META.get("HTTP_USER_AGENT", "")[:200]
    DeviceSession.objects.update_or_create(
        session_key=session.session_key,
        defaults={
            "user": user,
            "ip": client_ip(request) or UNKNOWN_IP,
            "user_agent": ua,
            "last_seen_at": timezone.now(),
        },
    )


def forget(session_key: str | None) -> None:
    """Drop the listed row of a session that ended (logout)."""
    if session_key:
        DeviceSession.objects.filter(session_key=session_key).delete()


def expiry_reason(request: HttpRequest, policy: Policy, *, now: float) -> str:
    """Why this session must end now ("" when it may go on)."""
    session = request.session
    started, seen = session.get(STARTED), session.get(SEEN)
    if not isinstance(started, int | float) or not isinstance(seen, int | float):
        return ""  # not stamped (signed in before this feature): `adopt` stamps it
    if now - started > policy.absolute_lifetime.total_seconds():
        return "Your session reached its maximum length. Please sign in again."
    if now - seen > policy.idle_timeout.total_seconds():
        return "You were signed out after a period of inactivity. Please sign in again."
    return ""


def adopt(request: HttpRequest, user: User, *, has_two_factor: bool) -> None:
    """Stamp a session that was signed in before sessions were stamped."""
    start(request, user, has_two_factor=has_two_factor)


def touch(request: HttpRequest, *, now: float) -> None:
    """Note activity: at most one write per session per minute (session + listed row)."""
    session = request.session
    seen = session.get(SEEN)
    if isinstance(seen, int | float) and now - seen < TOUCH_EVERY:
        return
    session[SEEN] = now
    if session.session_key:
        DeviceSession.objects.filter(session_key=session.session_key).update(
            last_seen_at=timezone.now(), ip=client_ip(request) or UNKNOWN_IP
        )


@dataclass(frozen=True)
class SessionRow:
    """One line of Settings → Sessions."""

    pk: int
    device: str
    ip: str
    created_at: datetime
    last_seen_at: datetime
    is_current: bool


def sessions_of(*, user: User, current_key: str | None, policy: Policy) -> list[SessionRow]:
    """The user's live sessions, current first then most recently active (one query).

    Rows whose Django session is gone or past the policy's limits are not shown (the browser
    would be signed out at its next request anyway)."""
    now = timezone.now()
    rows = DeviceSession.objects.visible_to(user).filter(
        last_seen_at__gt=now - policy.idle_timeout,
        created_at__gt=now - policy.absolute_lifetime,
    )
    if _db_sessions():
        live = Session.objects.filter(expire_date__gt=now).values("session_key")
        rows = rows.filter(session_key__in=live)
    result = [
        SessionRow(
            pk=row.pk,
            device=devices.describe(row.user_agent),
            ip="" if row.ip == UNKNOWN_IP else row.ip,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            is_current=row.session_key == current_key,
        )
        for row in rows.order_by("-last_seen_at", "-pk")
    ]
    return sorted(result, key=lambda row: not row.is_current)


def _end_keys(keys: list[str]) -> None:
    """Delete Django sessions (the browsers are signed out) and their listed rows."""
    if not keys:
        return
    if _db_sessions():
        Session.objects.filter(session_key__in=keys).delete()
    else:
        store = import_module(settings.SESSION_ENGINE).SessionStore
        for key in keys:
            store().delete(key)
    DeviceSession.objects.filter(session_key__in=keys).delete()


@transaction.atomic
def end_session(*, user: User, session: DeviceSession, by: User) -> None:
    """Sign one session out (the user's own, or any when an admin resets a user)."""
    _end_keys([session.session_key])
    audit.record(
        actor=by,
        action="user.session_end",
        target=user,
        changes={"device": devices.describe(session.user_agent), "ip": session.ip},
    )


@transaction.atomic
def end_other_sessions(*, user: User, keep: str | None, by: User | None, reason: str) -> int:
    """Sign out every session of `user` but `keep` (None: all of them). Returns how many."""
    keys = list(
        DeviceSession.objects.filter(user_id=user.pk)
        .exclude(session_key=keep or "")
        .values_list("session_key", flat=True)
    )
    _end_keys(keys)
    if keys:
        audit.record(
            actor=by,
            action="user.sessions_end",
            target=user,
            changes={"ended": len(keys), "reason": reason},
        )
    return len(keys)


def current_key_for(request: HttpRequest, user: User) -> str | None:
    """The session to keep when `user` changes their own credentials in this request."""
    same = getattr(request, "user", None) is not None and request.user.pk == user.pk
    return request.session.session_key if same and hasattr(request, "session") else None


def after_password_change(request: HttpRequest, user: User) -> None:
    """crm.registry credentials follower: a new password signs out the user's other
    sessions (the one that changed it stays signed in)."""
    keep = current_key_for(request, user)
    end_other_sessions(user=user, keep=keep, by=user, reason="password changed")
    if keep:  # Django gave this session a new key with the new password: list it again
        _list(request, user)
