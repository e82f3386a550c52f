"""Core models: users and the team tree, notifications, tokens, job runs, settings, the audit log,
and the outbox every e-mail leaves through.

The visibility scope lives here (`scope_q`): every app's `visible_to(user)` is built from it.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import OuterRef, Q
from django.db.models.functions import Length, Substr
from django.utils import timezone

from crm import registry


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class TeamQuerySet(models.QuerySet["Team"]):
    def subtree_of(self, user: User) -> TeamQuerySet:
        """Every team in the subtree of a team `user` manages, in one query (or a subquery).

        Teams keep a materialised `path` ("000001.000004."), so a subtree is a prefix match.
        """
        # The outer team is in the subtree when a managed team's path is a prefix of its path.
        managed = Team.objects.filter(
            manager_id=user.pk, path=Substr(OuterRef("path"), 1, Length("path"))
        )
        return self.filter(models.Exists(managed))

    def descendants_of(self, team: Team, *, include_self: bool = True) -> TeamQuerySet:
        """A team's subtree (one query)."""
        qs = self.filter(path__startswith=team.path)
        return qs if include_self else qs.exclude(pk=team.pk)


class Team(TimeStampedModel):
    """A node of the org tree (org → region → team). `path` is maintained by save()."""

    name = models.CharField(max_length=120)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_teams",
    )
    path = models.CharField(max_length=255, db_index=True, editable=False, default="")
    depth = models.PositiveSmallIntegerField(default=0, editable=False)

    objects = TeamQuerySet.as_manager()

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="team_unique_name_in_parent")
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The path needs the pk, so a new team is saved twice; moving a team rewrites its
        # descendants' paths in one UPDATE (crm.services.move_team).
        if self.pk is None:
            super().save(*args, **kwargs)
            kwargs.pop("force_insert", None)
        prefix = self.parent.path if self.parent_id and self.parent else ""
        path = f"{prefix}{self.pk:06d}."
        if path != self.path:
            self.path, self.depth = path, path.count(".") - 1
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "path", "depth"}
        # A full save: a moved team must persist its new parent along with its path.
        super().save(*args, **kwargs)


class User(AbstractUser):
    """A person who logs in. `role` decides what they may see (see `scope_q`)."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        MANAGER = "manager", "Manager"
        REP = "rep", "Sales rep"
        MARKETING = "marketing", "Marketing"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REP)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )
    is_available = models.BooleanField(default=True, help_text="Receives new leads.")
    max_open_leads = models.PositiveIntegerField(default=500, help_text="Routing capacity cap.")

    class EmailDelivery(models.TextChoices):
        IMMEDIATE = "immediate", "Each notification at once"
        DIGEST = "digest", "One daily digest"
        NONE = "none", "No notification e-mails"

    remind_before_minutes = models.PositiveIntegerField(default=15)
    time_zone = models.CharField(max_length=64, blank=True)
    # How notifications reach the user by e-mail; the digest goes out at `digest_hour` in
    # their time zone. Invitations and password resets are not notifications: always sent.
    email_delivery = models.CharField(
        max_length=16, choices=EmailDelivery.choices, default=EmailDelivery.IMMEDIATE
    )
    digest_hour = models.PositiveSmallIntegerField(default=8, validators=[MaxValueValidator(23)])
    last_digest_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def initials(self) -> str:
        parts = [self.first_name[:1], self.last_name[:1]]
        return ("".join(parts) or self.username[:2]).upper()

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN or self.is_superuser

    @property
    def is_manager(self) -> bool:
        return self.role == self.Role.MANAGER


def scope_q(user: User, *, owner_field: str = "owner") -> Q | None:
    """The one ownership rule: rep = own rows, manager = own + the teams they manage (subtree),
    admin = everything (None means "no filter"). Marketing's access is decided per model."""
    if user.is_admin:
        return None
    own = Q(**{f"{owner_field}_id": user.pk})
    if user.role == User.Role.MANAGER:
        subtree = Team.objects.subtree_of(user).values("pk")
        return own | Q(**{f"{owner_field}__team__in": subtree})
    return own


def users_visible_to(user: User) -> models.QuerySet[User]:
    """Users whose records `user` may see: themselves, their subtree's members, or everyone."""
    qs = User.objects.filter(is_active=True)
    if user.is_admin or user.role == User.Role.MARKETING:
        return qs
    if user.role == User.Role.MANAGER:
        return qs.filter(Q(pk=user.pk) | Q(team__in=Team.objects.subtree_of(user).values("pk")))
    return qs.filter(pk=user.pk)


class Notification(models.Model):
    """An in-app message to one user; `read_at` drives the bell's unread count."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    verb = models.CharField(max_length=50)
    message = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    target_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.CASCADE)
    target_id = models.PositiveBigIntegerField(null=True, blank=True)
    target = GenericForeignKey("target_type", "target_id")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_unread")]

    def __str__(self) -> str:
        return self.message


class ApiToken(models.Model):
    """A bearer token for the API: shown once, stored as a SHA-256 digest, scoped, revocable.

    The token text is `plumb_<prefix>_<secret>`; the prefix finds the row, the digest proves it.
    """

    class Scope(models.TextChoices):
        LEADS_READ = "leads:read", "Read leads"
        LEADS_WRITE = "leads:write", "Create and update leads"
        EVENTS_WRITE = "events:write", "Send engagement events"
        OPPORTUNITIES_READ = "opportunities:read", "Read pipelines and opportunities"
        OPPORTUNITIES_WRITE = "opportunities:write", "Create, update and move opportunities"
        SCORING_WRITE = "scoring:write", "Manage scoring rules"
        CONTACTS_READ = "contacts:read", "Read contacts"
        CONTACTS_WRITE = "contacts:write", "Create and update contacts"
        ACCOUNTS_READ = "accounts:read", "Read accounts"
        ACCOUNTS_WRITE = "accounts:write", "Create and update accounts"
        ACTIVITIES_READ = "activities:read", "Read activities and tasks"
        ACTIVITIES_WRITE = "activities:write", "Log activities and manage tasks"
        EMAILS_SEND = "emails:send", "Send e-mail from the CRM and read its delivery status"
        EMAILS_INGEST = "emails:ingest", "Deliver inbound e-mail (raw MIME) for capture"
        WEBHOOKS_WRITE = "webhooks:write", "Manage webhook subscriptions"
        FORMS_WRITE = "forms:write", "Manage web-to-lead forms"
        IMPORTS_WRITE = "imports:write", "Import data from files (and revert imports)"
        READ_ALL = "read:all", "Read everything the owner can see"

    PREFIX: ClassVar[str] = "plumb"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.PREFIX}_{self.prefix}_…)"

    @staticmethod
    def hash(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @classmethod
    def generate(cls) -> tuple[str, str, str]:
        """(full token, prefix, digest). Only the digest is stored."""
        prefix, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
        return f"{cls.PREFIX}_{prefix}_{secret}", prefix, cls.hash(secret)

    def allows(self, scope: str) -> bool:
        if scope in self.scopes:
            return True
        return scope.endswith(":read") and self.Scope.READ_ALL in self.scopes


class JobRun(models.Model):
    """One run of a background sweep: what it did and whether it failed. Settings lists these."""

    class Status(models.TextChoices):
        RUNNING = "running"
        OK = "ok"
        FAILED = "failed"

    job = models.CharField(max_length=100, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["job", "-started_at"], name="jobrun_latest")]

    def __str__(self) -> str:
        return f"{self.job} {self.started_at:%Y-%m-%d %H:%M} {self.status}"


def new_install_id() -> str:
    """64 random bits, hex: the install's part of every Message-ID."""
    return secrets.token_hex(8)


class OrgSettings(models.Model):
    """Install-wide settings (a singleton, pk=1): thresholds, SLAs, sweeps, fiscal calendar."""

    mql_threshold = models.PositiveIntegerField(default=50)
    engagement_decay_percent = models.PositiveSmallIntegerField(
        default=25, validators=[MaxValueValidator(100)]
    )
    engagement_decay_days = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(1)]
    )
    first_contact_sla_minutes = models.PositiveIntegerField(default=5)
    sla_escalation_minutes = models.PositiveIntegerField(default=60)
    stale_escalate_after_days = models.PositiveIntegerField(default=7)
    stale_auto_close_after_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty = never auto-close."
    )
    zombie_lead_days = models.PositiveIntegerField(default=90)
    fiscal_year_start_month = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    currency = models.CharField(max_length=3, default="USD")
    # Random, made once per database: Message-IDs carry it, so two installs (or this one after
    # a reset, which starts its row ids again) never repeat one.
    install_id = models.CharField(max_length=32, default=new_install_id, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "organisation settings"
        verbose_name_plural = "organisation settings"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="orgsettings_singleton")]

    def __str__(self) -> str:
        return "Organisation settings"

    @classmethod
    def load(cls) -> OrgSettings:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class AuditLog(models.Model):
    """One change by one actor to one record: who changed what and when.

    Append-only: rows are written by `crm.audit.record` / `record_many` inside the service's
    transaction, so a rolled-back change leaves no entry. Bulk operations write one row per
    record (so each record's history shows them) with `bulk_count` saying how many records
    the operation touched. `target_type` is "app_label.model"; `target_label` keeps a readable
    name so the trail survives deletions.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=64)
    target_label = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(db_index=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    bulk_count = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["target_type", "target_id", "-at"], name="audit_target_at"),
            models.Index(fields=["actor", "-at"], name="audit_actor_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.target_type}#{self.target_id}"

    def change_lines(self) -> list[tuple[str, str]]:
        """(field, "old → new") pairs for display; non-pair values are shown as they are."""
        lines = []
        for field, change in (self.changes or {}).items():
            if isinstance(change, list) and len(change) == 2:
                old, new = ("∅" if v is None else v for v in change)
                lines.append((field, f"{old} → {new}"))
            else:
                lines.append((field, str(change)))
        return lines


class OutboxMessageQuerySet(models.QuerySet["OutboxMessage"]):
    def visible_to(self, user: User) -> OutboxMessageQuerySet:
        """Admins see every message (Settings → E-mail). Others see what a feature lets them
        see: the e-mails sent from records in their scope (crm.registry outbox scopes)."""
        if user.is_admin:
            return self
        q = Q(pk__in=[])
        for scope in registry.outbox_scopes():
            q |= scope(user)
        return self.filter(q)

    def due(self, now: Any) -> OutboxMessageQuerySet:
        """Queued messages whose (next) try has come."""
        return self.filter(status=OutboxMessage.Status.QUEUED, next_try_at__lte=now)


class OutboxMessage(models.Model):
    """One e-mail Plumb promised to send, written in the transaction of its cause.

    The row is the promise; workers keep it (crm.outbox.send_due): they claim due rows with
    SKIP LOCKED, send outside any lock and record the relay's answer. `message_id` is fixed
    when the row is written, so a resend after a crash is recognisably the same message.
    `envelope` narrows the recipients still owed it after the relay took some and deferred
    others; `refused` keeps the addresses it refused for good, with its answer.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"  # refused for good (5xx): not retried
        GIVEN_UP = "given_up", "Given up"  # deferred (4xx, no relay) for too long
        CANCELLED = "cancelled", "Not sent"  # nothing to say any more (see `response`)

    kind = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The user the message is for, when it is for one.",
    )
    notification = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_email = models.CharField(max_length=998)
    to = models.JSONField(default=list)
    cc = models.JSONField(default=list, blank=True)
    reply_to = models.JSONField(default=list, blank=True)
    envelope = models.JSONField(null=True, blank=True)
    subject = models.CharField(max_length=998)
    text_body = models.TextField()
    html_body = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    # NULL only between the INSERT and the UPDATE that names it (it needs the row id): NULLs
    # never collide under the unique constraint, empty strings would.
    message_id = models.CharField(  # noqa: DJ001
        max_length=255, unique=True, null=True, editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    next_try_at = models.DateTimeField(default=timezone.now)
    claim = models.CharField(max_length=32, blank=True, editable=False)
    attempts = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    response = models.CharField(max_length=1000, blank=True, help_text="The relay's last answer.")
    refused = models.JSONField(default=dict, blank=True)

    objects = OutboxMessageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["next_try_at"], name="outbox_due", condition=Q(status="queued")),
            models.Index(fields=["status", "-created_at"], name="outbox_status_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {', '.join(self.to)}: {self.subject[:60]}"

    @property
    def has_failed(self) -> bool:
        return self.status in (self.Status.FAILED, self.Status.GIVEN_UP)
