"""The webhook payloads in the OpenAPI schema (a drf-spectacular postprocessing hook).

The API schema stays OpenAPI 3.0 (its clients and the fuzzing read 3.0), so the payloads are
components, one `WebhookEvent<Type>` per event type (the envelope with the record's own
component as `data.object`), and an `x-webhooks` section that ReDoc-style viewers show as
the requests Plumb sends; the API description on the docs page points to them. The record
components come from what the features registered (webhooks.registry).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.plumbing import process_webhooks
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import OpenApiResponse, OpenApiWebhook, extend_schema
from rest_framework import serializers

from webhooks import registry
from webhooks.models import EVENT_TYPES, TEST_EVENT

# The record each event carries (form.submitted: the forms app registers "form_submission").
RECORD_OF_EVENT = {"lead": "lead", "opportunity": "opportunity", "activity": "activity"}
HEADERS_NOTE = (
    "Headers: `Plumb-Event-Id` (the stable event id, the same on every retry), "
    "`Plumb-Timestamp` (Unix seconds) and `Plumb-Signature: v1=<hex>`, the HMAC-SHA256 of "
    '"{timestamp}.{raw body}" with the subscription\'s secret (two `v1=` entries, comma-'
    "separated, for 24 hours after a rotation). Answer 2xx within 10 s; 429 and 5xx are "
    "retried with backoff for at least 24 hours, other answers are final."
)


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.replace("_", ".").split("."))


def envelope(event_type: str) -> type[serializers.Serializer]:
    """The serializer class documenting one event type's body."""
    kind_name = "test" if event_type == TEST_EVENT else event_type.split(".")[0]
    kinds = {kind.name: kind for kind in registry.kinds()}
    kind = kinds.get(RECORD_OF_EVENT.get(kind_name, "form_submission"))
    obj: serializers.Field = (
        kind.schema(
            read_only=True,
            help_text=f'The {kind.name} right after the change, with "object": "{kind.name}".',
        )
        if kind is not None and kind.schema is not None
        else serializers.DictField(help_text="The record the event is about.")
    )
    data = type(
        f"WebhookData{_camel(event_type)}Serializer",
        (serializers.Serializer,),
        {
            "object": obj,
            "previous": serializers.DictField(
                help_text="The changed fields' values before the change ({} when none)."
            ),
        },
    )
    return type(
        f"WebhookEvent{_camel(event_type)}Serializer",
        (serializers.Serializer,),
        {
            "__doc__": EVENT_TYPES.get(event_type, "A test event (Settings → Webhooks)."),
            "id": serializers.UUIDField(help_text="The event id (Plumb-Event-Id)."),
            "type": serializers.ChoiceField(choices=[event_type]),
            "created_at": serializers.DateTimeField(),
            "data": data(),
        },
    )


def document_webhook_payloads(
    result: dict[str, Any], generator: Any, **kwargs: Any
) -> dict[str, Any]:
    """Add every event type's payload to the components and under `x-webhooks`."""
    hooks = [
        OpenApiWebhook(
            name=event_type,
            decorator=extend_schema(
                summary=EVENT_TYPES.get(event_type, "A test event."),
                description=HEADERS_NOTE,
                request=envelope(event_type),
                responses={200: OpenApiResponse(description="Any 2xx: delivered.")},
            ),
        )
        for event_type in [*EVENT_TYPES, TEST_EVENT]
    ]
    result["x-webhooks"] = process_webhooks(hooks, generator.registry)
    result["components"] = generator.registry.build(spectacular_settings.APPEND_COMPONENTS)
    return result
