"""The lead page offers exactly the moves leads.services.allowed_transitions reports, with
what each still needs, and the service refuses a move for the very reason the page shows."""

from __future__ import annotations

import pytest
from django.urls import reverse

from leads.models import Lead, LeadReason
from leads.services import (
    AllowedTransition,
    InvalidTransition,
    allowed_transitions,
    transition_lead,
)
from tests.factories import LeadFactory
from tests.leads.factories import LeadReasonFactory

pytestmark = pytest.mark.django_db


def test_an_sql_lead_may_convert_or_be_disqualified_with_a_configured_reason():
    LeadReasonFactory(kind=LeadReason.Kind.DISQUALIFY, label="No budget")
    LeadReasonFactory(kind=LeadReason.Kind.RECYCLE, label="Not now")
    lead = Lead(stage="sql")
    assert allowed_transitions(lead=lead, reasons=LeadReason.objects.all()) == [
        AllowedTransition(to="converted", label="Converted", converts=True),
        AllowedTransition(
            to="disqualified", label="Disqualified", needs_reason=True, reasons=("No budget",)
        ),
    ]


def test_a_closed_lead_offers_nothing():
    assert allowed_transitions(lead=Lead(stage="converted")) == []


def test_the_page_shows_what_a_move_still_needs_and_the_service_refuses_it_so(client, manager):
    LeadReasonFactory(kind=LeadReason.Kind.RECYCLE, label="Not now")
    lead = LeadFactory(stage="mql")  # unassigned: a manager sees it
    client.force_login(manager)
    body = client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    srl = next(move for move in allowed_transitions(lead=lead) if move.to == "srl")
    assert srl.unmet == "Assign an owner (a rep) before sales accepts the lead."
    assert 'data-stage="srl"' in body
    assert srl.unmet in body
    assert "<option>Not now</option>" in body
    assert 'id="convert-form"' not in body
    with pytest.raises(InvalidTransition) as refused:
        transition_lead(lead=lead, to="srl", by=manager)
    assert refused.value.detail == srl.unmet


def test_an_sql_lead_page_offers_the_conversion_form(client, rep):
    lead = LeadFactory(stage="sql", owner=rep)
    client.force_login(rep)
    body = client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert 'id="convert-form"' in body
    assert 'data-stage="converted"' not in body  # conversion is its own form
    assert 'data-stage="disqualified"' in body
