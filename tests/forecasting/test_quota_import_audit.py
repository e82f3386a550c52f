"""The quota CSV import leaves one audit entry per quota it creates or changes (old → new)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from crm import audit
from crm.models import AuditLog
from forecasting import services
from forecasting.models import Quota
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(date(2026, 11, 23), tick=False):
        yield


def test_import_audits_each_created_and_changed_quota_on_its_person_or_team(
    client, manager, rep, admin_user, org
):
    # given: rep has 2026-Q4 at 1000 and 2027-Q1 at 700; Team A has nothing yet
    Quota.objects.create(user=rep, period="2026-Q4", amount=Decimal("1000"))
    Quota.objects.create(user=rep, period="2027-Q1", amount=Decimal("700"))
    data = (
        "period,username,team,amount\n"
        f"2026-Q4,{rep.username},,1500\n"
        f"2027-Q1,{rep.username},,700\n"  # unchanged: not written, not audited
        f"2027-Q2,{rep.username},,900\n"
        "2026-Q4,,Team A,20000\n"
    )
    # when
    result = services.import_quotas(by=manager, data=data)
    # then
    assert (result.created, result.updated, result.errors) == (2, 1, [])
    entries = AuditLog.objects.filter(action="quota.import").order_by("pk")
    assert [
        (e.actor_id, e.target_type, e.target_id, e.target_label, e.changes, e.bulk_count)
        for e in entries
    ] == [
        (
            manager.pk,
            "crm.user",
            str(rep.pk),
            rep.username,
            {"period": "2026-Q4", "amount": ["1000.00", "1500.00"]},
            3,
        ),
        (
            manager.pk,
            "crm.user",
            str(rep.pk),
            rep.username,
            {"period": "2027-Q2", "amount": [None, "900.00"]},
            3,
        ),
        (
            manager.pk,
            "crm.team",
            str(org["team_a"].pk),
            "Team A",
            {"period": "2026-Q4", "amount": [None, "20000.00"]},
            3,
        ),
    ]
    assert Quota.objects.get(user=rep, period="2026-Q4").updated_by == manager
    # the person's and the team's History tabs show them
    assert [e.changes["period"] for e in audit.history_for(rep)] == ["2027-Q2", "2026-Q4"]
    assert [e.action for e in audit.history_for(org["team_a"])] == ["quota.import"]
    client.force_login(admin_user)
    tab = client.get(reverse("settings:history_users", args=[rep.pk])).content.decode()
    assert tab.count("<code>quota.import</code>") == 2
    assert "1000.00 → 1500.00" in tab


def test_an_import_with_a_bad_row_audits_nothing(manager, rep):
    data = f"period,username,amount\n2026-Q4,{rep.username},5000\n2026-Q9,{rep.username},1\n"
    result = services.import_quotas(by=manager, data=data)
    assert result.errors
    assert AuditLog.objects.exists() is False
    assert Quota.objects.exists() is False


def test_reimporting_the_same_file_changes_and_audits_nothing(manager, rep):
    data = f"period,username,amount\n2026-Q4,{rep.username},5000\n"
    services.import_quotas(by=manager, data=data)
    result = services.import_quotas(by=manager, data=data)
    assert (result.created, result.updated) == (0, 0)
    assert AuditLog.objects.filter(action="quota.import").count() == 1


def test_import_queries_do_not_grow_with_the_rows(manager, org, django_assert_max_num_queries):
    for size in (3, 40):
        people = UserFactory.create_batch(size, team=org["team_a"])
        Quota.objects.bulk_create(
            Quota(user=person, period="2026-Q4", amount=Decimal("1")) for person in people
        )
        lines = [f"2026-Q4,{p.username},{size}" for p in people]  # every quota changes
        lines += [f"2027-Q1,{p.username},{size}" for p in people]  # every quota is new
        data = "period,username,amount\n" + "\n".join(lines) + "\n"
        with django_assert_max_num_queries(12):
            result = services.import_quotas(by=manager, data=data)
        assert (result.created, result.updated) == (size, size)
    assert AuditLog.objects.filter(action="quota.import").count() == 2 * (3 + 40)
    assert set(AuditLog.objects.values_list("target_type", flat=True)) == {"crm.user"}
