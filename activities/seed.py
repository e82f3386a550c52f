"""Demo data of the activities app: shared e-mail templates (the demo seeds every app)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from activities.models import EmailTemplate

if TYPE_CHECKING:
    from crm.seed import DemoOrg

TEMPLATES = [
    (
        "First touch",
        "{{ lead.company }} and Plumb",
        "Hi {{ lead.first_name }},\n\nthanks for your interest. Could we find 20 minutes this "
        "week to see what {{ lead.company }} needs?\n\nBest,\n{{ sender.full_name }}",
    ),
    (
        "Proposal follow-up",
        "Next steps for {{ deal.name }}",
        "Hi {{ lead.first_name }},\n\nfollowing up on our proposal for {{ deal.name }}. "
        "Next step on our side: {{ deal.next_step }}.\n\n{{ sender.full_name }}",
    ),
]


def run(org: DemoOrg) -> dict[str, int]:
    """Two shared templates; idempotent (by name)."""
    created = 0
    for name, subject, body in TEMPLATES:
        _, made = EmailTemplate.objects.get_or_create(
            owner=None, name=name, defaults={"subject": subject, "body": body}
        )
        created += made
    return {"email templates": created}
