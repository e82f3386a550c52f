"""Activities follow their subject's scope (registered subjects: activities.registry)."""

from __future__ import annotations

import pytest

from activities.models import Activity
from tests.factories import ActivityFactory, LeadFactory

pytestmark = pytest.mark.django_db


def names(qs):
    return set(qs.values_list("pk", flat=True))


def test_activities_follow_their_lead(rep, other_rep):
    lead = LeadFactory(owner=rep)
    visible = ActivityFactory(owner=other_rep, lead=lead)  # logged by someone else on my lead
    hidden = ActivityFactory(owner=other_rep, lead=LeadFactory(owner=other_rep))
    assert visible.pk in names(Activity.objects.visible_to(rep))
    assert hidden.pk not in names(Activity.objects.visible_to(rep))
