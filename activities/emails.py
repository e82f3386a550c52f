"""E-mail from the CRM: a user writes to a lead or a deal's people, optionally from a template.

`send_email` queues the message in the outbox (crm.outbox) and logs it as an outbound e-mail
activity on the record, in one transaction: the timeline shows it, speed-to-lead counts it
as contact (`first_contacted_at`) and the deal's rotting clock starts again
(`last_activity_at`), through the record's registered `on_logged`. A refused message (a bad
address, 500 recipients, a line break in the subject, a body over 1 MB) writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.headerregistry import Address
from email.utils import parseaddr

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.utils.html import escape, linebreaks

from activities import merge, registry
from activities.models import Activity, EmailMessage, EmailTemplate
from activities.services import create_activity
from crm import audit, outbox
from crm.models import User

KIND = "activities.email"


def sender_addresses(user: User) -> tuple[str, list[str]]:
    """(From, Reply-To) of a user's e-mail: their own address as From when the relay lets us
    (EMAIL_FROM_USER), else DEFAULT_FROM_EMAIL's address under their name; their address is
    the Reply-To either way, so answers reach them."""
    name = user.get_full_name() or user.username
    default_address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or "plumb@localhost"
    if not outbox.mailable(user):
        return str(Address(display_name=name, addr_spec=default_address)), []
    own = str(Address(display_name=name, addr_spec=user.email))
    if settings.EMAIL_FROM_USER:
        return own, [own]
    return str(Address(display_name=name, addr_spec=default_address)), [own]


def merge_values(*, by: User, record: models.Model) -> dict[str, dict[str, str]]:
    """The values of every merge field for `record` written by `by`: the record's own, and
    those of the records it points at that have their own (a deal's lead gives
    `{{ lead.first_name }}`). Query-free when those relations are loaded."""
    values: dict[str, dict[str, str]] = {"sender": merge.sender_values(by)}
    for field in record._meta.concrete_fields:
        related_model = field.related_model if field.is_relation else None
        if not isinstance(related_model, type) or related_model is type(record):
            continue
        related = registry.email_subject_for(related_model)
        target = getattr(record, field.name) if related is not None else None
        if related is not None and target is not None:
            values |= related.merge_values(target)
    subject = registry.email_subject_for(type(record))
    return values | (subject.merge_values(record) if subject is not None else {})


def recipients_for(record: models.Model) -> list[registry.Recipient]:
    """The addresses offered when writing from `record` (its lead; a deal's people)."""
    subject = registry.email_subject_for(type(record))
    return subject.recipients(record) if subject is not None else []


def fill_template(*, template: EmailTemplate, by: User, record: models.Model) -> tuple[str, str]:
    """(subject, body) of `template` for `record`, every merge field filled."""
    values = merge_values(by=by, record=record)
    return merge.render(template.subject, values), merge.render(template.body, values)


def html_of(text: str) -> str:
    """The HTML part of a plain-text e-mail: escaped, paragraphs and line breaks kept."""
    return linebreaks(escape(text))


def _check_subject_record(*, by: User, record: models.Model) -> registry.ActivitySubject:
    subject = registry.subject_for(type(record))
    if subject is None or registry.email_subject_for(type(record)) is None:
        raise ValueError(f"no e-mail is sent from {record._meta.label}")
    visible = subject.model._default_manager.visible_to(by)  # type: ignore[attr-defined]
    if not visible.filter(pk=record.pk).exists():
        raise PermissionDenied("That record is not yours to write from.")
    return subject


@transaction.atomic
def send_email(
    *,
    by: User,
    record: models.Model,
    to: Sequence[str],
    cc: Sequence[str] = (),
    subject: str = "",
    body: str = "",
    template: EmailTemplate | None = None,
) -> EmailMessage:
    """Send an e-mail from a lead or deal `by` may see: queued in the outbox, logged as an
    outbound e-mail activity on the record (owner `by`), both or neither.

    With a `template` (one `by` may use), its subject and body fill in whatever is not given,
    merge fields filled for this record. The Message-ID is the outbox row's, kept on the
    EmailMessage so replies can thread back to it."""
    registered = _check_subject_record(by=by, record=record)
    if template is not None:
        if not EmailTemplate.objects.visible_to(by).filter(pk=template.pk).exists():
            raise ValidationError({"template": "Choose one of your or the shared templates."})
        filled_subject, filled_body = fill_template(template=template, by=by, record=record)
        subject, body = subject or filled_subject, body or filled_body
    if not subject.strip():
        raise ValidationError({"subject": "Give the e-mail a subject."})
    if not body.strip():
        raise ValidationError({"body": "Write something."})
    if len(body.encode()) > outbox.MAX_BODY_BYTES:
        raise ValidationError({"body": "The body is over 1 MB: shorten it."})
    from_email, reply_to = sender_addresses(by)
    row = outbox.enqueue(
        kind=KIND,
        to=to,
        cc=cc,
        reply_to=reply_to,
        from_email=from_email,
        subject=subject,
        text=body,
        html=html_of(body),
    )
    on_record: dict[str, models.Model | None] = {"lead": None, "opportunity": None}
    on_record[registered.field] = record
    activity = create_activity(
        by=by,
        kind=Activity.Kind.EMAIL,
        subject=row.subject[:200],
        body=body,
        owner=by,
        lead=on_record["lead"],
        opportunity=on_record["opportunity"],
    )
    return EmailMessage.objects.create(
        activity=activity,
        direction=EmailMessage.Direction.OUTBOUND,
        message_id=row.message_id or "",
        from_address=row.from_email,
        to=row.to,
        cc=row.cc,
        sent_at=row.created_at,
        subject=row.subject,
        text_body=row.text_body,
        html_body=row.html_body,
        outbox=row,
    )


# --- templates -------------------------------------------------------------------------------


def _check_template(*, name: str, subject: str, body: str) -> None:
    if not name.strip():
        raise ValidationError({"name": "Name the template."})
    outbox.clean_header_text(subject, field_name="subject")
    merge.check_merge_fields(subject, field_name="subject")
    merge.check_merge_fields(body, field_name="body")


def _can_share(user: User) -> bool:
    return user.is_admin or user.role == User.Role.MANAGER


@transaction.atomic
def create_email_template(
    *, by: User, name: str, subject: str, body: str, shared: bool = False
) -> EmailTemplate:
    """A template of `by`'s own, or a shared one (admins and managers). Its merge fields are
    checked now: an unknown field or a tag is refused, naming it."""
    if shared and not _can_share(by):
        raise PermissionDenied("Only admins and managers share templates.")
    _check_template(name=name, subject=subject, body=body)
    template = EmailTemplate(
        name=name.strip(), subject=subject, body=body, owner=None if shared else by, created_by=by
    )
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError as error:
        raise ValidationError({"name": "A template of that name exists already."}) from error
    audit.record(actor=by, action="email_template.create", target=template, changes={})
    return template


@transaction.atomic
def update_email_template(
    *, by: User, template: EmailTemplate, name: str, subject: str, body: str
) -> EmailTemplate:
    """Edit a template `by` may edit (their own; shared ones if admin or manager)."""
    if not EmailTemplate.objects.editable_by(by).filter(pk=template.pk).exists():
        raise PermissionDenied("You cannot edit that template.")
    _check_template(name=name, subject=subject, body=body)
    before = {"name": template.name, "subject": template.subject, "body": template.body}
    template.name, template.subject, template.body = name.strip(), subject, body
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError as error:
        raise ValidationError({"name": "A template of that name exists already."}) from error
    after = {"name": template.name, "subject": template.subject, "body": template.body}
    audit.record(
        actor=by, action="email_template.update", target=template, changes=audit.diff(before, after)
    )
    return template


@transaction.atomic
def delete_email_template(*, by: User, template: EmailTemplate) -> None:
    if not EmailTemplate.objects.editable_by(by).filter(pk=template.pk).exists():
        raise PermissionDenied("You cannot delete that template.")
    audit.record(actor=by, action="email_template.delete", target=template, changes={})
    template.delete()
