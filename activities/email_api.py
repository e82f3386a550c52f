"""E-mail API: send from a lead or deal (`POST /api/v1/emails/`, 202 with the outbox row) and
read its delivery status (`GET /api/v1/emails/{id}/`). Scope `emails:send` for both; only
records (and e-mails of records) the caller can see."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.mixins import RetrieveModelMixin
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from activities import emails, registry, selectors
from activities.models import EmailTemplate
from crm.models import OutboxMessage

SEND = "emails:send"


class EmailSendSerializer(serializers.Serializer):
    """One e-mail from one record: `lead` or `opportunity` (the ids of records you can see)."""

    to = serializers.ListField(child=serializers.CharField(max_length=998), allow_empty=False)
    cc = serializers.ListField(
        child=serializers.CharField(max_length=998), required=False, default=list
    )
    subject = serializers.CharField(max_length=998, required=False, default="", allow_blank=True)
    body = serializers.CharField(
        required=False, default="", allow_blank=True, trim_whitespace=False
    )
    template = serializers.PrimaryKeyRelatedField(
        queryset=EmailTemplate.objects.none(), required=False, allow_null=True, default=None
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        user = getattr(request, "user", None)
        # One optional field per record kind e-mail is sent from (lead, opportunity), offering
        # only the records the caller sees: anything else is "does not exist" (400).
        for subject in registry.subjects():
            if registry.email_subject_for(subject.model) is None:
                continue
            manager: Any = subject.model._default_manager
            queryset = manager.visible_to(user) if user is not None else manager.none()
            self.fields[subject.field] = serializers.PrimaryKeyRelatedField(
                queryset=queryset, required=False, allow_null=True, default=None
            )
        if user is not None:
            template = self.fields["template"]
            assert isinstance(template, serializers.PrimaryKeyRelatedField)
            template.queryset = EmailTemplate.objects.visible_to(user)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        fields = [s.field for s in registry.subjects() if s.field in self.fields]
        given = [name for name in fields if attrs.get(name) is not None]
        if len(given) != 1:
            raise serializers.ValidationError(
                {"non_field_errors": [f"Give exactly one of: {', '.join(fields)}."]}
            )
        attrs["record"] = attrs[given[0]]
        return attrs


class EmailStatusSerializer(serializers.ModelSerializer):
    """An e-mail sent from Plumb and where it stands (the outbox row's id and status)."""

    activity = serializers.IntegerField(source="email_activity.activity_id", read_only=True)
    lead = serializers.IntegerField(
        source="email_activity.activity.lead_id", read_only=True, allow_null=True
    )
    opportunity = serializers.IntegerField(
        source="email_activity.activity.opportunity_id", read_only=True, allow_null=True
    )
    answer = serializers.CharField(source="response", read_only=True)

    class Meta:
        model = OutboxMessage
        fields = [
            "id",
            "status",
            "message_id",
            "to",
            "cc",
            "subject",
            "created_at",
            "sent_at",
            "attempts",
            "next_try_at",
            "answer",
            "refused",
            "activity",
            "lead",
            "opportunity",
        ]
        read_only_fields = fields


class EmailViewSet(RetrieveModelMixin, GenericViewSet):
    """Send e-mail from the CRM and follow its delivery."""

    serializer_class = EmailStatusSerializer
    token_scopes = {"read": SEND, "write": SEND}

    def get_queryset(self) -> QuerySet[OutboxMessage]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return OutboxMessage.objects.none()
        return selectors.sent_emails(user=self.request.user)  # type: ignore[arg-type]

    @extend_schema(
        request=EmailSendSerializer,
        responses={202: EmailStatusSerializer},
        description="Queue an e-mail from a lead or an opportunity you can see; it is logged "
        "on the record's timeline. 202: queued (see `status`; poll GET /emails/{id}/).",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = EmailSendSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = data.validated_data
        sent = emails.send_email(
            by=request.user,  # type: ignore[arg-type]
            record=values["record"],
            to=values["to"],
            cc=values["cc"],
            subject=values["subject"],
            body=values["body"],
            template=values["template"],
        )
        assert sent.outbox is not None  # send_email always queues one
        row = self.get_queryset().get(pk=sent.outbox.pk)
        return Response(EmailStatusSerializer(row).data, status=status.HTTP_202_ACCEPTED)
