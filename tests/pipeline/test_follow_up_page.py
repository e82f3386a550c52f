"""Settings → Follow-up (pipeline's page under /settings/routing/): the sweeps' settings, the
deals auto-closed as stale and their reopen."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import OrgSettings
from pipeline.stale import STALE_REASON, auto_close_stale_opportunities
from tests.factories import OpportunityFactory

pytestmark = pytest.mark.django_db


def test_admin_changes_sla_and_stale_settings(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("stale:follow_up"),
        {
            "first_contact_sla_minutes": 10,
            "sla_escalation_minutes": 30,
            "stale_escalate_after_days": 3,
            "stale_auto_close_after_days": 30,
            "zombie_lead_days": 60,
        },
    )
    assert response.status_code == 302
    org = OrgSettings.load()
    assert (org.first_contact_sla_minutes, org.stale_auto_close_after_days) == (10, 30)


def test_bad_settings_are_refused_with_422_and_nothing_changes(client, admin_user, manager):
    client.force_login(admin_user)
    response = client.post(
        reverse("stale:follow_up"),
        {
            "first_contact_sla_minutes": -5,
            "sla_escalation_minutes": 30,
            "stale_escalate_after_days": 3,
            "zombie_lead_days": 0,
        },
    )
    assert response.status_code == 422
    assert OrgSettings.load().first_contact_sla_minutes == 5
    client.force_login(manager)
    assert client.post(reverse("stale:follow_up"), {"zombie_lead_days": 9}).status_code == 403
    assert OrgSettings.load().zombie_lead_days == 90


def test_reopen_restores_an_auto_closed_deal_and_is_scoped(client, manager, rep, other_rep):
    OrgSettings.objects.update_or_create(pk=1, defaults={"stale_auto_close_after_days": 1})
    long_ago = timezone.now() - timedelta(days=5)
    mine = OpportunityFactory(owner=rep, is_stale=True, stale_since=long_ago)
    theirs = OpportunityFactory(owner=other_rep, is_stale=True, stale_since=long_ago)
    proposal = mine.stage
    auto_close_stale_opportunities(now=timezone.now())
    client.force_login(manager)
    page = client.get(reverse("stale:follow_up")).content.decode()
    assert reverse("stale:reopen_deal", args=[mine.pk]) in page
    assert reverse("stale:reopen_deal", args=[theirs.pk]) not in page
    assert client.post(reverse("stale:reopen_deal", args=[theirs.pk])).status_code == 404
    client.post(reverse("stale:reopen_deal", args=[mine.pk]))
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.stage == proposal
    assert theirs.lost_reason.label == STALE_REASON


def test_zero_zombie_days_is_refused_by_the_service(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("stale:follow_up"),
        {
            "first_contact_sla_minutes": 7,
            "sla_escalation_minutes": 30,
            "stale_escalate_after_days": 3,
            "zombie_lead_days": 0,
        },
    )
    assert response.status_code == 422
    assert "At least one day." in response.content.decode()
    assert OrgSettings.load().first_contact_sla_minutes == 5
