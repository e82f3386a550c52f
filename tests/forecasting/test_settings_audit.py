"""Changing the fiscal year's first month is audited (quarter labels depend on it)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import AuditLog

pytestmark = pytest.mark.django_db


def test_an_admin_changing_the_fiscal_year_start_is_audited_once(client, admin_user):
    client.force_login(admin_user)
    client.post(reverse("forecasting:fiscal_year"), {"month": "2"})
    client.post(reverse("forecasting:fiscal_year"), {"month": "2"})  # unchanged
    client.post(reverse("forecasting:fiscal_year"), {"month": "13"})  # refused
    entry = AuditLog.objects.get(action="org_settings.update")
    assert (entry.actor, entry.target_type, entry.changes) == (
        admin_user,
        "crm.orgsettings",
        {"fiscal_year_start_month": [1, 2]},
    )
