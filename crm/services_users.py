"""Users and teams: create, edit, deactivate, reassign open work, manage the team tree, profiles.

Who may do what (enforced here, views only pick the 404/403):
- admins manage every user and team;
- managers manage the teams in their subtree (create sub-teams, rename, move them inside the
  subtree) and move the reps of their subtree between those teams;
- everyone edits their own profile, password, notification preferences and time zone.
Every change writes an audit entry in the same transaction.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from functools import cache

from axes.utils import reset
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from crm import audit, outbox, registry
from crm.models import ApiToken, Notification, Team, User
from crm.permissions import is_admin, require
from crm.services import move_team, notify_many

USER_ADMIN_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "role",
    "team",
    "is_available",
    "max_open_leads",
)
PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "time_zone",
    "email_delivery",
    "digest_hour",
    "remind_before_minutes",
)


@cache
def time_zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


# --- scopes ------------------------------------------------------------------------------------


def teams_manageable_by(user: User) -> QuerySet[Team]:
    """Teams `user` may edit: all for admins, the managed subtree for managers, none else."""
    if user.is_admin:
        return Team.objects.all()
    if user.role == User.Role.MANAGER:
        return Team.objects.subtree_of(user)
    return Team.objects.none()


def users_manageable_by(user: User) -> QuerySet[User]:
    """Users `user` may administer (active or not): all for admins; for managers the reps of
    their subtree (not other managers' accounts, not themselves); nobody for others."""
    if user.is_admin:
        return User.objects.all()
    if user.role == User.Role.MANAGER:
        subtree = Team.objects.subtree_of(user).values("pk")
        return User.objects.filter(team__in=subtree, role=User.Role.REP).exclude(pk=user.pk)
    return User.objects.none()


def _require_admin(by: User) -> None:
    require(is_admin(by), "Only admins manage users.")


def _snapshot(user: User, fields: tuple[str, ...]) -> dict[str, object]:
    return {f: (getattr(user, f"{f}_id") if f == "team" else getattr(user, f)) for f in fields}


# --- users -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreatedUser:
    user: User
    invite_url: str  # empty when the admin set a password


def invite_path(user: User) -> str:
    """The set-your-password link of an invited user (Django's password-reset token)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return reverse("settings:accept_invite", args=[uid, token])


@transaction.atomic
def create_user(
    *,
    by: User,
    username: str,
    email: str,
    role: str,
    team: Team | None = None,
    first_name: str = "",
    last_name: str = "",
    is_available: bool = True,
    max_open_leads: int = 500,
    password: str = "",
) -> CreatedUser:
    """Create a user (admins only). Without a password the user is invited: they get an
    e-mail with a one-time link to choose one (and the admin sees the link once)."""
    _require_admin(by)
    username = username.strip()
    if not username:
        raise ValidationError({"username": "Choose a username."})
    if role not in User.Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": "That username is taken."})
    user = User(
        username=username,
        email=email.strip(),
        role=role,
        team=team,
        first_name=first_name,
        last_name=last_name,
        is_available=is_available,
        max_open_leads=max_open_leads,
    )
    if password:
        validate_password(password, user)  # ValidationError lists what is weak
        user.set_password(password)
    else:
        if not user.email:
            raise ValidationError({"email": "An invited user needs an e-mail address."})
        user.email = outbox.clean_address(user.email, field_name="email")
        user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as error:  # a concurrent create of the same username
        raise ValidationError({"username": "That username is taken."}) from error
    invite_url = ""
    if not password:
        # The invitation is an outbox row of this transaction: no user, no mail.
        invite_url = f"{settings.SITE_URL}{invite_path(user)}"
        outbox.enqueue_template(
            kind="invitation",
            template="email/invitation",
            subject="You are invited to Plumb CRM",
            context={
                "inviter": str(by),
                "role": user.get_role_display(),
                "username": user.username,
                "invite_url": invite_url,
                "days": settings.PASSWORD_RESET_TIMEOUT // 86400,
            },
            to_user=user,
        )
    audit.record(
        actor=by,
        action="user.create",
        target=user,
        changes={f: [None, v] for f, v in _snapshot(user, USER_ADMIN_FIELDS).items()},
        label=user.username,
    )
    return CreatedUser(user=user, invite_url=invite_url)


@transaction.atomic
def update_user(*, by: User, user: User, **changes: object) -> User:
    """Admins edit a user's name, e-mail, role, team, availability and lead cap.

    An admin cannot take away their own admin role (the install would risk having none).
    """
    _require_admin(by)
    unknown = set(changes) - set(USER_ADMIN_FIELDS)
    if unknown:
        raise ValidationError({"__all__": f"Cannot change {', '.join(sorted(unknown))} here."})
    if "role" in changes and changes["role"] not in User.Role.values:
        raise ValidationError({"role": f"Unknown role {changes['role']!r}."})
    if user.pk == by.pk and changes.get("role", User.Role.ADMIN) != User.Role.ADMIN:
        raise ValidationError({"role": "You cannot remove your own admin role."})
    locked = User.objects.select_for_update().get(pk=user.pk)
    before = _snapshot(locked, tuple(changes))
    for field, value in changes.items():
        setattr(locked, field, value)
    locked.full_clean(exclude=["password", "username"])
    locked.save(update_fields=[f if f != "team" else "team" for f in changes] or None)
    delta = audit.diff(before, _snapshot(locked, tuple(changes)))
    if delta:
        audit.record(actor=by, action="user.update", target=locked, changes=delta)
    return locked


@transaction.atomic
def deactivate_user(*, by: User, user: User) -> User:
    """Deactivate a user (admins only): they cannot log in (open sessions end at their next
    request), their API tokens are revoked, and they stop receiving leads. Their open leads
    and deals stay theirs until reassigned (see `reassign_open_work`)."""
    _require_admin(by)
    if user.pk == by.pk:
        raise ValidationError({"__all__": "You cannot deactivate yourself."})
    now = timezone.now()
    changed = User.objects.filter(pk=user.pk, is_active=True).update(
        is_active=False, is_available=False
    )
    revoked = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)
    if changed:
        audit.record(
            actor=by,
            action="user.deactivate",
            target=user,
            changes={"is_active": [True, False], "tokens_revoked": revoked},
        )
    user.refresh_from_db()
    return user


@transaction.atomic
def reactivate_user(*, by: User, user: User) -> User:
    """Let a deactivated user log in again (admins only). Revoked tokens stay revoked."""
    _require_admin(by)
    if User.objects.filter(pk=user.pk, is_active=False).update(is_active=True):
        audit.record(
            actor=by, action="user.reactivate", target=user, changes={"is_active": [False, True]}
        )
    user.refresh_from_db()
    return user


@transaction.atomic
def unlock_login(*, by: User, user: User) -> int:
    """Clear a user's failed log-ins (admins only), lifting a lockout from every address.
    Returns how many failure records were removed."""
    _require_admin(by)
    cleared = reset(username=user.username)
    audit.record(actor=by, action="user.unlock", target=user, changes={"cleared": cleared})
    return cleared


@transaction.atomic
def move_user(*, by: User, user: User, team: Team) -> User:
    """Move a user to another team: admins anywhere; managers move the reps of their subtree
    between teams of their subtree."""
    if not users_manageable_by(by).filter(pk=user.pk).exists():
        raise PermissionDenied("You cannot move this user.")
    if not teams_manageable_by(by).filter(pk=team.pk).exists():
        raise ValidationError({"team": "Choose a team you manage."})
    old_team_id = user.team_id
    if old_team_id == team.pk:
        return user
    User.objects.filter(pk=user.pk).update(team=team)
    audit.record(
        actor=by, action="user.move", target=user, changes={"team": [old_team_id, team.pk]}
    )
    user.refresh_from_db()
    return user


# --- reassignment ----------------------------------------------------------------------------


def round_robin_targets(*, user: User) -> list[User]:
    """Who takes a departing user's work round-robin: the other active reps of their team,
    in a stable order (one query)."""
    if user.team_id is None:
        return []
    return list(
        User.objects.filter(team_id=user.team_id, role=User.Role.REP, is_active=True)
        .exclude(pk=user.pk)
        .order_by("pk")
    )


def _rotate(ids: list[int], targets: list[User]) -> dict[int, list[int]]:
    """Even rotation: the i-th id goes to targets[i mod n] (so counts differ by at most 1)."""
    plan: dict[int, list[int]] = defaultdict(list)
    for index, pk in enumerate(ids):
        plan[targets[index % len(targets)].pk].append(pk)
    return plan


@dataclass(frozen=True)
class Reassigned:
    counts: dict[str, int]  # kind of open work (registry key) → how many records moved
    to_users: dict[int, int]  # user id → how many records they got
    summary: str  # "3 open lead(s) and 1 open deal(s)"


def _check_reassign(*, by: User, from_user: User, to_user: User | None) -> list[User]:
    """Who receives the work: `to_user`, or the team's other active reps round-robin."""
    if not users_manageable_by(by).filter(pk=from_user.pk).exists():
        raise PermissionDenied("You cannot reassign this user's work.")
    if to_user is None:
        targets = round_robin_targets(user=from_user)
        if not targets:
            raise ValidationError(
                {"to_user": "Nobody else is active on this team: pick a user instead."}
            )
        return targets
    if not to_user.is_active:
        raise ValidationError({"to_user": "That user is deactivated."})
    if to_user.pk == from_user.pk:
        raise ValidationError({"to_user": "Choose someone else."})
    if not by.is_admin and not (
        to_user.pk == by.pk or users_manageable_by(by).filter(pk=to_user.pk).exists()
    ):
        raise ValidationError({"to_user": "Choose a rep of your teams."})
    return [to_user]


@transaction.atomic
def reassign_open_work(*, by: User, from_user: User, to_user: User | None = None) -> Reassigned:
    """Hand a user's open work (every kind the features registered: open leads, open deals)
    to `to_user`, or round-robin over the other active reps of their team when `to_user` is
    None (admins, or the user's manager). What follows the records goes along (their open
    tasks: reminders then reach the new owner, who can open the record).

    Set-based: each kind's rows are locked in pk order (kind after kind, always in the same
    order), then per receiving rep and kind one hand-over (an UPDATE and a bulk audit insert)
    plus its followers, and one notification per receiving rep. Records closed meanwhile are
    left alone.
    """
    targets = _check_reassign(by=by, from_user=from_user, to_user=to_user)
    now = timezone.now()
    kinds = registry.open_work_kinds()
    locked = {
        kind.key: list(
            kind.open_records(from_user)
            .select_for_update()
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for kind in kinds
    }
    received: dict[int, int] = defaultdict(int)
    for kind in kinds:
        for target_id, ids in _rotate(locked[kind.key], targets).items():
            handover = registry.HandOver(
                model=kind.model, ids=ids, from_user=from_user, to_user_id=target_id, by=by, now=now
            )
            kind.hand_over(handover)
            for follow in registry.hand_over_followers():
                follow(handover)
            received[target_id] += len(ids)
    notes = [
        Notification(
            recipient_id=target_id,
            actor=by,
            verb="reassigned",
            message=f"{by} handed you {count} open record(s) of {from_user}.",
            url="/",
        )
        for target_id, count in received.items()
        if target_id != by.pk
    ]
    if notes:
        notify_many(notes)
    counts = {kind.key: len(locked[kind.key]) for kind in kinds}
    summary = " and ".join(f"{counts[kind.key]} open {kind.noun}(s)" for kind in kinds)
    return Reassigned(counts=counts, to_users=dict(received), summary=summary)


# --- teams -------------------------------------------------------------------------------------


def _check_manager_choice(*, by: User, manager: User | None) -> None:
    """Managers may name themselves or a user of their subtree as a team's manager."""
    if manager is None or by.is_admin or manager.pk == by.pk:
        return
    if not users_manageable_by(by).filter(pk=manager.pk).exists():
        raise ValidationError({"manager": "Choose yourself or someone in your teams."})


@transaction.atomic
def create_team(*, by: User, name: str, parent: Team | None, manager: User | None = None) -> Team:
    """Create a team. Managers create sub-teams inside their subtree; only admins make roots."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Name the team."})
    if parent is None:
        if not by.is_admin:
            raise ValidationError({"parent": "Choose the parent team."})
    elif not teams_manageable_by(by).filter(pk=parent.pk).exists():
        raise ValidationError({"parent": "Choose a team you manage."})
    _check_manager_choice(by=by, manager=manager)
    if Team.objects.filter(parent=parent, name__iexact=name).exists():
        raise ValidationError({"name": "A team of that name already exists there."})
    try:
        with transaction.atomic():
            team = Team.objects.create(name=name, parent=parent, manager=manager)
    except IntegrityError as error:
        raise ValidationError({"name": "A team of that name already exists there."}) from error
    audit.record(
        actor=by,
        action="team.create",
        target=team,
        changes={"name": [None, name], "parent": [None, parent.pk if parent else None]},
    )
    return team


@transaction.atomic
def update_team(*, by: User, team: Team, name: str, manager: User | None) -> Team:
    """Rename a team or change its manager (within the editor's subtree)."""
    if not teams_manageable_by(by).filter(pk=team.pk).exists():
        raise PermissionDenied("You cannot edit this team.")
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Name the team."})
    _check_manager_choice(by=by, manager=manager)
    if (
        not by.is_admin
        and (manager.pk if manager else None) != team.manager_id
        and (
            team.parent_id is None or not teams_manageable_by(by).filter(pk=team.parent_id).exists()
        )
    ):
        # Handing away the top of your own subtree would lock you out of it.
        raise ValidationError(
            {"manager": "Only an admin changes the manager of the top team of your subtree."}
        )
    before = {"name": team.name, "manager": team.manager_id}
    if (
        Team.objects.filter(parent_id=team.parent_id, name__iexact=name)
        .exclude(pk=team.pk)
        .exists()
    ):
        raise ValidationError({"name": "A team of that name already exists there."})
    Team.objects.filter(pk=team.pk).update(name=name, manager=manager)
    team.refresh_from_db()
    delta = audit.diff(before, {"name": team.name, "manager": team.manager_id})
    if delta:
        audit.record(actor=by, action="team.update", target=team, changes=delta)
    return team


@transaction.atomic
def move_team_within(*, by: User, team: Team, new_parent: Team | None) -> Team:
    """Re-parent a team. Managers move teams strictly inside their subtree (not the team at
    its top, whose parent is outside it); admins move anything (root = no parent)."""
    manageable = teams_manageable_by(by)
    if not manageable.filter(pk=team.pk).exists():
        raise PermissionDenied("You cannot move this team.")
    if not by.is_admin:
        if team.parent_id is None or not manageable.filter(pk=team.parent_id).exists():
            raise ValidationError({"parent": "This team is the top of your subtree."})
        if new_parent is None or not manageable.filter(pk=new_parent.pk).exists():
            raise ValidationError({"parent": "Choose a team you manage."})
    return move_team(team=team, new_parent=new_parent, by=by)  # audited there


# --- own profile --------------------------------------------------------------------------------


@transaction.atomic
def update_profile(*, user: User, **changes: object) -> User:
    """A user edits their own name, e-mail, time zone, how notifications reach them by e-mail
    (each at once, a daily digest at their hour, none) and reminder lead."""
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationError({"__all__": f"Cannot change {', '.join(sorted(unknown))} here."})
    tz = changes.get("time_zone")
    if tz and tz not in time_zone_names():
        raise ValidationError({"time_zone": f"Unknown time zone {tz!r}."})
    locked = User.objects.select_for_update().get(pk=user.pk)
    before = _snapshot(locked, tuple(changes))
    for field, value in changes.items():
        setattr(locked, field, value)
    locked.full_clean(exclude=["password", "username"])
    locked.save(update_fields=list(changes) or None)
    delta = audit.diff(before, _snapshot(locked, tuple(changes)))
    if delta:
        audit.record(actor=user, action="user.profile", target=locked, changes=delta)
    return locked


def record_password_change(*, user: User, by: User) -> None:
    """Audit a password change (never the password itself)."""
    audit.record(actor=by, action="user.password", target=user, changes={})


def users_for_admin(*, by: User, q: str = "", include_inactive: bool = True) -> QuerySet[User]:
    """The users page: manageable users with their team, searchable by name/username/e-mail."""
    qs = users_manageable_by(by).select_related("team")
    if not include_inactive:
        qs = qs.filter(is_active=True)
    if q:
        qs = qs.filter(
            Q(username__icontains=q)
            | Q(first_name__icontains=q)
            | Q(last_name__icontains=q)
            | Q(email__icontains=q)
        )
    return qs.order_by("-is_active", "username")
