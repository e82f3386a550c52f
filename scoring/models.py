"""Scoring: rules, the versioned rule set, engagement events, score history, rescore jobs.

The engine that turns these into a lead's score lives in `scoring.engine` (pure rule
evaluation) and `scoring.services` (set-based reads and writes).
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from crm.models import TimeStampedModel


class Category(models.TextChoices):
    FIT = "fit", "Fit"
    ENGAGEMENT = "engagement", "Engagement"


class Operator(models.TextChoices):
    EQUALS = "equals", "equals"
    NOT_EQUALS = "not_equals", "does not equal"
    IN = "in", "is one of"
    CONTAINS = "contains", "contains"
    STARTS_WITH = "starts_with", "starts with"
    GTE = "gte", "≥"
    LTE = "lte", "≤"
    BETWEEN = "between", "between"
    IS_SET = "is_set", "is set"
    IS_EMPTY = "is_empty", "is empty"
    FREE_EMAIL = "free_email", "is a free-mail domain"


class EventType(models.TextChoices):
    """The well-known engagement event types. Senders may use any other slug too."""

    FORM_SUBMITTED = "form_submitted", "Form submitted"
    EMAIL_OPENED = "email_opened", "E-mail opened"
    EMAIL_CLICKED = "email_clicked", "E-mail clicked"
    PAGE_VIEWED = "page_viewed", "Page viewed"
    CONTENT_DOWNLOADED = "content_downloaded", "Content downloaded"
    WEBINAR_ATTENDED = "webinar_attended", "Webinar attended"
    TRIAL_STARTED = "trial_started", "Trial started"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"


class ScoringRule(TimeStampedModel):
    """One rule of the live rule set. Fit rules test a lead field (`field`, `operator`,
    `value`); engagement rules count matching events (`event_type`, `url_pattern`), each
    occurrence worth `points`, at most `max_occurrences` of them, within `window_days`.

    Rows change only through `scoring.services` (create/update/delete_rule), which writes a
    new RuleSetVersion and queues a rescore in the same transaction.
    """

    CATEGORY = Category
    OPERATOR = Operator

    name = models.CharField(max_length=120)
    category = models.CharField(max_length=16, choices=Category.choices)
    field = models.CharField(
        max_length=120, blank=True, help_text="A lead field or attributes.<key> (fit rules)."
    )
    operator = models.CharField(max_length=16, choices=Operator.choices, blank=True)
    value = models.JSONField(null=True, blank=True)
    event_type = models.CharField(max_length=50, blank=True)
    url_pattern = models.CharField(
        max_length=300,
        blank=True,
        help_text="Counts only events whose URL contains this (case-sensitive).",
    )
    points = models.IntegerField()
    max_occurrences = models.PositiveIntegerField(null=True, blank=True)
    window_days = models.PositiveIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["category", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(category="engagement") | ~Q(field=""), name="scoringrule_fit_has_field"
            ),
            models.CheckConstraint(
                condition=Q(category="fit") | ~Q(event_type=""),
                name="scoringrule_engagement_has_event_type",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.points:+d})"


class RuleSetVersion(models.Model):
    """An immutable snapshot of the active rules, written on every rule change. Leads record
    the version that scored them (`Lead.score_version` = this pk), so a breakdown can always
    be traced to the exact rules that produced it."""

    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    change = models.CharField(max_length=300)
    rules = models.JSONField(default=list)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"v{self.pk}: {self.change}"


class EngagementEvent(models.Model):
    """Something a lead did (opened an e-mail, viewed /pricing …). `external_id` is the
    sender's id: unique, so a replayed event is a no-op."""

    # Unique through a named constraint, not unique=True: that would add a second
    # (LIKE-pattern) index on PostgreSQL that nothing uses and every insert pays for.
    external_id = models.CharField(max_length=100)
    # No database FK constraint on purpose: inserting events would otherwise take a KEY SHARE
    # lock on each lead, which conflicts with the FOR UPDATE of the MQL transition in a
    # concurrent request and can deadlock. Deleting a lead still deletes its events (Django's
    # CASCADE runs in the ORM); events are only ever inserted for leads just looked up.
    lead = models.ForeignKey(
        "leads.Lead",
        on_delete=models.CASCADE,
        related_name="engagement_events",
        db_constraint=False,
        db_index=False,  # the (lead, type, occurred_at) index serves lookups by lead
    )
    type = models.CharField(max_length=50)
    occurred_at = models.DateTimeField()
    url = models.CharField(max_length=500, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        indexes = [
            # Covering (url included): scoring counts a batch's leads' events from the index
            # alone (an index-only scan), instead of visiting ~7,000 scattered heap pages per
            # 1,000 leads (60 → 10 ms at 1M events). PostgreSQL; elsewhere a plain index.
            models.Index(
                fields=["lead", "type", "occurred_at"], include=["url"], name="event_lead_cover"
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="event_unique_external_id"),
        ]

    def __str__(self) -> str:
        return f"{self.type} by lead {self.lead_id}"


class ScoreHistory(models.Model):
    """One row per change of a lead's score (the sparkline and the audit of "why")."""

    class Reason(models.TextChoices):
        EVENT = "event", "Engagement event"
        LEAD = "lead", "Lead created or changed"
        RESCORE = "rescore", "Rules changed"
        DECAY = "decay", "Engagement decay"

    # No database FK constraint, like EngagementEvent: its per-row check was two thirds of the
    # cost of writing a batch's history (17 of 24 ms per 1,000 rows). Rows are written only by
    # scoring, for leads it holds locked; deleting a lead still deletes them (ORM CASCADE).
    lead = models.ForeignKey(
        "leads.Lead",
        on_delete=models.CASCADE,
        related_name="score_history",
        db_constraint=False,
        db_index=False,  # the (lead, -at) index serves lookups by lead
    )
    at = models.DateTimeField()
    score = models.IntegerField()
    fit_score = models.IntegerField()
    engagement_score = models.IntegerField()
    version = models.PositiveIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=16, choices=Reason.choices)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["lead", "-at"], name="scorehistory_lead_at")]
        verbose_name_plural = "score history"

    def __str__(self) -> str:
        return f"lead {self.lead_id}: {self.score} at {self.at:%Y-%m-%d %H:%M}"


class RescoreJob(models.Model):
    """Rescoring every lead after a rule change, as pre-planned pk-range batches
    (RescoreBatch). Workers claim batches with SKIP LOCKED, so several workers share one job
    in parallel, a crashed worker's batch rolls back and is claimed again, and no batch is
    counted twice. A newer job supersedes an older one (it rescores everything anyway).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        SUPERSEDED = "superseded", "Superseded"

    ACTIVE: ClassVar[tuple[str, ...]] = (Status.QUEUED, Status.RUNNING)

    version = models.ForeignKey(RuleSetVersion, on_delete=models.CASCADE, related_name="jobs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"rescore v{self.version_id}: {self.done}/{self.total} {self.status}"

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, round(100 * self.done / self.total))

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class RescoreBatch(models.Model):
    """One pk range of a rescore job. `done_at` is set in the same transaction that writes
    the range's scores, so a batch is either fully rescored and counted, or pending."""

    job = models.ForeignKey(RescoreJob, on_delete=models.CASCADE, related_name="batches")
    first_pk = models.BigIntegerField()
    last_pk = models.BigIntegerField()
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "first_pk"]
        indexes = [
            models.Index(
                fields=["job", "first_pk"],
                name="rescorebatch_pending",
                condition=Q(done_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"job {self.job_id}: leads {self.first_pk}–{self.last_pk}"
