from __future__ import annotations

import contextlib
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from forecasting import selectors, services
from forecasting.models import ForecastAdjustment, Quota
from forecasting.periods import parse_period
from tests.forecasting.factories import deal

pytestmark = pytest.mark.django_db
Q4 = parse_period("2026-Q4", 1)


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(date(2026, 11, 23), tick=False):
        yield


def test_manager_adjusts_a_reps_commit_and_both_numbers_show_and_roll_up(
    client, manager, rep, admin_user, org
):
    # given
    deal(rep, amount="3000")
    client.force_login(manager)
    # when
    response = client.post(
        reverse("forecasting:adjust_commit"),
        {"period": "2026-Q4", "user": rep.pk, "amount": "2000", "note": "Deal slipping"},
        headers={"HX-Request": "true"},
    )
    # then
    assert response.status_code == 200
    adjustment = ForecastAdjustment.objects.get()
    assert (adjustment.amount, adjustment.note, adjustment.adjusted_by) == (
        Decimal("2000.00"), "Deal slipping", manager,
    )  # fmt: skip
    rollup = selectors.forecast_rollup(viewer=manager, period=Q4)
    row = next(r for r in rollup.rows if r.node.id == rep.pk)
    assert (row.figures.commit, row.figures.adjusted_commit) == (Decimal("3000"), Decimal("2000"))
    assert rollup.total.adjusted_commit == Decimal("2000")
    assert rollup.total.commit == Decimal("3000")
    region = selectors.forecast_rollup(
        viewer=admin_user,
        period=Q4,
        node=selectors.resolve_node(admin_user, team_id=org["region"].pk),
    )
    team_a = next(r for r in region.rows if r.node.name == "Team A")
    assert team_a.figures.adjusted_commit == Decimal("2000")
    page = client.get(reverse("forecasting:forecast"), {"period": "2026-Q4"}).content.decode()
    assert "2,000" in page
    assert "3,000" in page


def test_adjustment_without_a_note_is_422_and_nothing_is_saved(client, manager, rep):
    client.force_login(manager)
    response = client.post(
        reverse("forecasting:adjust_commit"),
        {"period": "2026-Q4", "user": rep.pk, "amount": "2000", "note": ""},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert "Say why" in response.content.decode()
    assert ForecastAdjustment.objects.exists() is False


def test_manager_cannot_adjust_someone_outside_the_subtree(client, manager, other_rep):
    client.force_login(manager)
    response = client.post(
        reverse("forecasting:adjust_commit"),
        {"period": "2026-Q4", "user": other_rep.pk, "amount": "1", "note": "x"},
    )
    assert response.status_code == 404
    assert ForecastAdjustment.objects.exists() is False


def test_rep_cannot_adjust(client, rep):
    client.force_login(rep)
    response = client.post(
        reverse("forecasting:adjust_commit"),
        {"period": "2026-Q4", "user": rep.pk, "amount": "1", "note": "x"},
    )
    assert response.status_code == 404
    assert ForecastAdjustment.objects.exists() is False


def test_manager_cannot_adjust_own_commit(manager):
    with pytest.raises(ValidationError):
        services.adjust_commit(by=manager, period="2026-Q4", amount="1", note="x", user=manager)
    assert ForecastAdjustment.objects.exists() is False


def test_team_adjustment_replaces_the_sum_of_its_people(admin_user, rep, org):
    deal(rep, amount="3000")
    services.adjust_commit(
        by=admin_user, period="2026-Q4", amount="500", note="sandbagging", team=org["team_a"]
    )
    region = selectors.forecast_rollup(
        viewer=admin_user,
        period=Q4,
        node=selectors.resolve_node(admin_user, team_id=org["region"].pk),
    )
    assert region.total.adjusted_commit == Decimal("500")
    assert region.total.commit == Decimal("3000")


def test_quota_cell_saves_and_grid_shows_team_sum(client, manager, rep, org):
    client.force_login(manager)
    response = client.post(
        reverse("forecasting:quota_cell"),
        {"period": "2026-Q4", "user": rep.pk, "amount": "12,500"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert Quota.objects.get(user=rep).amount == Decimal("12500.00")
    assert "12,500" in response.content.decode()


def test_bad_quota_cell_is_422_and_nothing_changes(client, manager, rep):
    Quota.objects.create(user=rep, period="2026-Q4", amount=Decimal("10"))
    client.force_login(manager)
    response = client.post(
        reverse("forecasting:quota_cell"),
        {"period": "2026-Q4", "user": rep.pk, "amount": "-5"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert Quota.objects.get(user=rep).amount == Decimal("10")


def test_quota_grid_is_for_managers_only(client, rep, manager):
    client.force_login(rep)
    assert client.get(reverse("forecasting:quotas")).status_code == 404
    client.force_login(manager)
    assert client.get(reverse("forecasting:quotas")).status_code == 200


def test_csv_import_writes_all_rows(client, manager, rep, org):
    client.force_login(manager)
    data = f"period,username,team,amount\n2026-Q4,{rep.username},,5000\n2026-Q4,,Team A,20000\n"
    response = client.post(
        reverse("forecasting:import_quotas"),
        {"file": SimpleUploadedFile("q.csv", data.encode()), "period": "2026-Q4"},
    )
    assert response.status_code == 302
    assert Quota.objects.get(user=rep).amount == Decimal("5000")
    assert Quota.objects.get(team=org["team_a"]).amount == Decimal("20000")


def test_csv_import_with_one_bad_row_writes_nothing(manager, rep, other_rep):
    data = (
        f"period,username,amount\n2026-Q4,{rep.username},5000\n"
        f"2026-Q4,{other_rep.username},100\n2026-Q9,{rep.username},1\n"
    )
    result = services.import_quotas(by=manager, data=data)
    assert Quota.objects.exists() is False
    assert len(result.errors) == 2
    assert "Line 3" in result.errors[0]


def test_admin_sets_the_fiscal_year_start_and_quarters_follow(client, admin_user, manager):
    from crm.models import OrgSettings
    from forecasting.periods import current_quarter, fiscal_start_month

    client.force_login(manager)
    assert client.post(reverse("forecasting:fiscal_year"), {"month": "2"}).status_code == 404
    client.force_login(admin_user)
    assert client.post(reverse("forecasting:fiscal_year"), {"month": "13"}).status_code == 302
    assert OrgSettings.load().fiscal_year_start_month == 1
    client.post(reverse("forecasting:fiscal_year"), {"month": "2"})
    assert fiscal_start_month() == 2
    quarter = current_quarter(2)  # today 2026-11-23: FY2027 Q4 = Nov 2026 – Jan 2027
    assert (quarter.label, quarter.start, quarter.end) == (
        "2027-Q4",
        date(2026, 11, 1),
        date(2027, 2, 1),
    )


def test_manager_cannot_set_a_quota_outside_the_subtree(client, manager, other_rep):
    client.force_login(manager)
    response = client.post(
        reverse("forecasting:quota_cell"),
        {"period": "2026-Q4", "user": other_rep.pk, "amount": "100"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 404
    assert Quota.objects.exists() is False


def test_quota_grid_query_count_does_not_grow(
    client, admin_user, org, django_assert_max_num_queries
):
    from tests.factories import UserFactory

    for size in (2, 8):
        for i in range(size):
            person = UserFactory(username=f"qg{size}-{i}", role="rep", team=org["team_b"])
            Quota.objects.create(user=person, period="2026-Q4", amount=Decimal("5"))
        client.force_login(admin_user)
        with django_assert_max_num_queries(12):
            response = client.get(reverse("forecasting:quotas"), {"period": "2026-Q4"})
        assert response.status_code == 200


def test_commit_adjustments_are_audited_on_the_person_with_old_and_new_values(manager, rep):
    from crm.models import AuditLog

    def adjust(amount, note="Deal slipping"):
        with contextlib.suppress(ValidationError):
            services.adjust_commit(by=manager, period="2026-Q4", amount=amount, note=note, user=rep)

    adjust("2000")
    adjust("2,000.00")  # the same call again: nothing to record
    adjust("1500")
    adjust("1200", note="")  # refused: no reason given
    adjust("")  # cleared
    adjust("")  # nothing left to clear
    entries = AuditLog.objects.order_by("pk")
    assert [(e.action, e.actor, e.target_type, e.target_id, e.changes) for e in entries] == [
        (
            "forecast.adjustment_set",
            manager,
            "crm.user",
            str(rep.pk),
            {"period": "2026-Q4", "amount": [None, "2000.00"], "note": ["", "Deal slipping"]},
        ),
        (
            "forecast.adjustment_set",
            manager,
            "crm.user",
            str(rep.pk),
            {"period": "2026-Q4", "amount": ["2000.00", "1500.00"]},
        ),
        (
            "forecast.adjustment_clear",
            manager,
            "crm.user",
            str(rep.pk),
            {"period": "2026-Q4", "amount": ["1500.00", None], "note": ["Deal slipping", ""]},
        ),
    ]
