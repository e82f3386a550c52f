"""Activities (calls, e-mails, meetings, notes, tasks), the reminder deliveries of tasks, and
e-mail: the messages on a record's timeline and the templates users write them from.

An activity is about a subject — a lead, a deal or a contact — reached through a nullable
foreign key per subject kind (an activity logged on a deal about one of its contacts has
both). The features register their subjects (activities.registry),
so this app knows the foreign keys' names but never imports the features.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models import Q
from django.utils import timezone

from activities import registry
from crm.models import Notification, TimeStampedModel, User, scope_q
from crm.registry import record_url


class ActivityQuerySet(models.QuerySet["Activity"]):
    def visible_to(self, user: User) -> ActivityQuerySet:
        """Activities the user owns or whose subject (lead, deal) they can see: each
        registered subject's own `visible_to` decides."""
        q = scope_q(user)
        if q is None:
            return self
        for subject in registry.subjects():
            scoped = subject.model._default_manager.visible_to(user)  # type: ignore[attr-defined]
            q |= Q(**{f"{subject.field}__in": scoped.values("pk")})
        return self.filter(q)

    def open_tasks(self) -> ActivityQuerySet:
        return self.filter(kind=Activity.Kind.TASK, done_at__isnull=True)


class Activity(TimeStampedModel):
    """A call, e-mail, meeting, note or task on a lead, an opportunity or a contact.

    Tasks carry `due_at`; `reminded_at` is the claim that makes a reminder go out once.
    """

    class Kind(models.TextChoices):
        CALL = "call", "Call"
        EMAIL = "email", "E-mail"
        MEETING = "meeting", "Meeting"
        NOTE = "note", "Note"
        TASK = "task", "Task"

    CONTACT_KINDS: ClassVar[frozenset[str]] = frozenset({Kind.CALL, Kind.EMAIL, Kind.MEETING})

    kind = models.CharField(max_length=16, choices=Kind.choices)
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    remind_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="activities"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    lead = models.ForeignKey(
        "leads.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    opportunity = models.ForeignKey(
        "pipeline.Opportunity",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="activities",
    )
    # Indexed only where set (activity_contact_at), newest first for a contact's timeline.
    contact = models.ForeignKey(
        "accounts.Contact",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="activities",
        db_index=False,
    )

    objects = ActivityQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "activities"
        indexes = [
            models.Index(
                fields=["remind_at"],
                name="activity_reminder_due",
                condition=Q(kind="task", done_at__isnull=True, reminded_at__isnull=True),
            ),
            models.Index(fields=["owner", "due_at"], name="activity_owner_due"),
            models.Index(
                fields=["contact", "-created_at"],
                name="activity_contact_at",
                condition=Q(contact__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(lead__isnull=False)
                | Q(opportunity__isnull=False)
                | Q(contact__isnull=False),
                name="activity_has_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject}"

    @property
    def is_overdue(self) -> bool:
        return bool(self.due_at and not self.done_at and self.due_at < timezone.now())

    @property
    def subject_record(self) -> models.Model | None:
        """The lead, deal or contact this activity is about, the first registered subject set
        (select_related it to keep this query-free)."""
        for subject in registry.subjects():
            if getattr(self, f"{subject.field}_id") is not None:
                record: models.Model = getattr(self, subject.field)
                return record
        return None

    @property
    def sent_email(self) -> EmailMessage | None:
        """The e-mail of an e-mail activity (select_related("email") keeps this query-free)."""
        try:
            return self.email
        except ObjectDoesNotExist:
            return None

    @property
    def subject_url(self) -> str:
        """The page of the record this activity is about (no query: ids only)."""
        for subject in registry.subjects():
            pk = getattr(self, f"{subject.field}_id")
            if pk is not None:
                return record_url(subject.model, pk)
        return ""


class ReminderDelivery(models.Model):
    """One task reminder, delivered once: the unique (activity, due_at) pair makes a second
    in-app send impossible, whatever workers die or retry.

    The in-app notification and the e-mail (a crm.outbox row, for owners who want each
    notification at once) are written in the same transaction as this row; `emailed_at` says
    the e-mail was settled then. The outbox retries it, never a broker message that a wiped
    broker could lose. `attempts` and `last_error` record the tries of the sweeper before the
    outbox (kept for the history of old rows).
    """

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="reminders")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    due_at = models.DateTimeField(help_text="The reminder time (the task's remind_at).")
    sent_at = models.DateTimeField(help_text="When the in-app reminder was created.")
    notification = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    emailed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="E-mail attempts.")
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(fields=["activity", "due_at"], name="reminder_once"),
        ]
        indexes = [
            models.Index(
                fields=["sent_at"], name="reminder_email_pending", condition=Q(emailed_at=None)
            ),
        ]

    def __str__(self) -> str:
        return f"reminder {self.activity_id} @ {self.due_at:%Y-%m-%d %H:%M}"


class EmailMessageQuerySet(models.QuerySet["EmailMessage"]):
    def visible_to(self, user: User) -> EmailMessageQuerySet:
        """The e-mails on activities the user can see (Activity.visible_to: the record's own
        scope); a private one only to the owner of its activity."""
        on_visible = self.filter(activity__in=Activity.objects.visible_to(user).values("pk"))
        return on_visible.filter(Q(is_private=False) | Q(activity__owner=user))


class EmailMessage(models.Model):
    """An e-mail on a record's timeline: one sent from Plumb (direction out, with its outbox
    row) or, later, one captured from a mailbox (direction in). One row per Message-ID,
    whichever way it came, so a reply threads onto its conversation by `in_reply_to` /
    `references`. `sent_at` is the message's Date; delivery is the outbox row's business.
    `html_body` holds sanitised HTML only (Plumb writes it from escaped text); attachments
    are described (name, size, type), not stored here.
    """

    class Direction(models.TextChoices):
        INBOUND = "in", "Received"
        OUTBOUND = "out", "Sent"

    activity = models.OneToOneField(Activity, on_delete=models.CASCADE, related_name="email")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    message_id = models.CharField(max_length=255, unique=True)
    in_reply_to = models.CharField(max_length=255, blank=True, db_index=True)
    references = models.TextField(blank=True)
    from_address = models.CharField(max_length=998)
    to = models.JSONField(default=list)
    cc = models.JSONField(default=list, blank=True)
    sent_at = models.DateTimeField()
    subject = models.CharField(max_length=998, blank=True)
    text_body = models.TextField(blank=True)
    html_body = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True)
    is_private = models.BooleanField(default=False)
    outbox = models.OneToOneField(
        "crm.OutboxMessage",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="email_activity",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EmailMessageQuerySet.as_manager()

    class Meta:
        ordering = ["-sent_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_direction_display()}: {self.subject[:80]}"


class EmailTemplateQuerySet(models.QuerySet["EmailTemplate"]):
    def visible_to(self, user: User) -> EmailTemplateQuerySet:
        """The shared templates and the user's own."""
        return self.filter(Q(owner__isnull=True) | Q(owner=user))

    def editable_by(self, user: User) -> EmailTemplateQuerySet:
        """Their own for everyone; the shared ones for admins and managers too."""
        if user.is_admin or user.role == User.Role.MANAGER:
            return self.visible_to(user)
        return self.filter(owner=user)


class EmailTemplate(TimeStampedModel):
    """A reusable e-mail: subject and body with merge fields (`{{ lead.first_name }}`),
    checked against the registered fields when saved. `owner` empty = shared with everyone
    (written by admins and managers)."""

    name = models.CharField(max_length=120)
    subject = models.CharField(max_length=998)
    body = models.TextField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="email_templates",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = EmailTemplateQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"],
                condition=Q(owner__isnull=False),
                name="email_template_unique_own_name",
            ),
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(owner__isnull=True),
                name="email_template_unique_shared_name",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_shared(self) -> bool:
        return self.owner_id is None
