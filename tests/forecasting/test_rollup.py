from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from forecasting import selectors
from forecasting.models import Quota
from forecasting.periods import parse_period
from tests.factories import TeamFactory, UserFactory
from tests.forecasting.factories import deal

pytestmark = pytest.mark.django_db
Q4 = parse_period("2026-Q4", 1)


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(date(2026, 11, 23), tick=False):
        yield


def test_manager_rollup_has_a_row_per_rep_and_the_team_total(manager, rep):
    # given: rep has won, commit, best case, pipeline and omitted deals in Q4
    deal(rep, stage="Closed Won", amount="5000", close=date(2026, 10, 5))
    deal(rep, stage="Negotiation", amount="3000")  # commit, 80 %
    deal(rep, stage="Proposal", amount="2000")  # best case, 60 %
    deal(rep, stage="Qualification", amount="1000")  # pipeline, 20 %
    deal(rep, stage="Qualification", amount="700", category="omitted")
    deal(rep, stage="Negotiation", amount="9999", close=date(2027, 1, 5))  # next quarter
    deal(rep, stage="Closed Lost", amount="4444")
    Quota.objects.create(user=rep, period="2026-Q4", amount=Decimal("20000"))
    # when
    rollup = selectors.forecast_rollup(viewer=manager, period=Q4)
    # then
    assert rollup.node.name == "Team A"
    rows = {r.node.name: r.figures for r in rollup.rows}
    assert set(rows) == {str(rep), str(manager)}
    fig = rows[str(rep)]
    assert (fig.quota, fig.closed_won, fig.commit, fig.best_case, fig.pipeline, fig.omitted) == (
        Decimal("20000"), Decimal("5000"), Decimal("3000"), Decimal("2000"), Decimal("1000"),
        Decimal("700"),
    )  # fmt: skip
    assert fig.weighted == Decimal("3800.00")  # 2400 + 1200 + 200
    assert fig.commit_forecast == Decimal("8000")
    assert fig.best_case_forecast == Decimal("10000")
    assert fig.open_pipeline == Decimal("6000")
    assert fig.attainment == 0.25
    assert fig.gap == Decimal("15000")
    assert fig.coverage == 0.4  # 6000 / 15000
    assert rollup.total.closed_won == Decimal("5000")
    assert rollup.total.quota == Decimal("20000")  # team quota defaults to the members' sum


def test_team_quota_overrides_the_sum_and_parents_sum_children(admin_user, rep, other_rep, org):
    Quota.objects.create(user=rep, period="2026-Q4", amount=Decimal("100"))
    Quota.objects.create(user=other_rep, period="2026-Q4", amount=Decimal("200"))
    Quota.objects.create(team=org["team_b"], period="2026-Q4", amount=Decimal("1000"))
    region = selectors.resolve_node(admin_user, team_id=org["region"].pk)
    rollup = selectors.forecast_rollup(viewer=admin_user, period=Q4, node=region)
    quotas = {r.node.name: r.figures.quota for r in rollup.rows}
    assert quotas == {"Team A": Decimal("100"), "Team B": Decimal("1000")}
    assert rollup.total.quota == Decimal("1100")


def test_admin_sees_the_org_with_sub_teams_as_rows(admin_user, rep, other_rep, org):
    deal(rep, amount="100")
    deal(other_rep, amount="50")
    rollup = selectors.forecast_rollup(viewer=admin_user, period=Q4)
    assert rollup.node.kind == "org"
    assert [r.node.name for r in rollup.rows] == ["Org"]
    region = selectors.forecast_rollup(
        viewer=admin_user,
        period=Q4,
        node=selectors.resolve_node(admin_user, team_id=org["region"].pk),
    )
    assert {r.node.name: r.figures.commit for r in region.rows} == {
        "Team A": Decimal("100"),
        "Team B": Decimal("50"),
    }


def test_reps_sitting_directly_in_a_team_with_sub_teams_get_their_own_row(admin_user, org):
    direct = UserFactory(username="direct_rep", role="rep", team=org["region"])
    deal(direct, amount="10")
    node = selectors.resolve_node(admin_user, team_id=org["region"].pk)
    rollup = selectors.forecast_rollup(viewer=admin_user, period=Q4, node=node)
    names = [r.node.name for r in rollup.rows]
    assert names[:2] == ["Team A", "Team B"]
    assert str(direct) in names
    assert rollup.total.commit == Decimal("10")


def test_rep_sees_only_their_own_row(client, rep, other_rep):
    deal(rep, amount="100")
    deal(other_rep, amount="999")
    rollup = selectors.forecast_rollup(viewer=rep, period=Q4)
    assert [r.node.name for r in rollup.rows] == [str(rep)]
    assert rollup.total.commit == Decimal("100")


def test_forecast_page_drills_from_team_to_rep_deals(client, manager, rep, org):
    deal(rep, amount="1234", name="Big Widget deal")
    client.force_login(manager)
    page = client.get(reverse("forecasting:forecast"), {"period": "2026-Q4"})
    assert page.status_code == 200
    assert f"user={rep.pk}" in page.content.decode()
    drill = client.get(reverse("forecasting:forecast"), {"period": "2026-Q4", "user": rep.pk})
    assert "Big Widget deal" in drill.content.decode()


def test_team_outside_the_managers_subtree_is_404(client, manager, other_manager, org):
    client.force_login(manager)
    response = client.get(reverse("forecasting:forecast"), {"team": org["team_b"].pk})
    assert response.status_code == 404
    response = client.get(reverse("forecasting:forecast"), {"user": 999999})
    assert response.status_code == 404


def test_rep_cannot_open_any_team(client, rep, org):
    client.force_login(rep)
    assert (
        client.get(reverse("forecasting:forecast"), {"team": org["team_a"].pk}).status_code == 404
    )


def test_bad_period_on_the_page_is_400_with_a_message(client, manager):
    client.force_login(manager)
    response = client.get(reverse("forecasting:forecast"), {"period": "2026-Q9"})
    assert response.status_code == 400
    assert "not a period" in response.content.decode()


def test_csv_export_neutralises_formula_cells(client, admin_user, org):
    evil = UserFactory(
        username="evil", first_name="=HYPERLINK(1)", last_name="", role="rep", team=org["team_a"]
    )
    deal(evil, amount="5")
    client.force_login(admin_user)
    response = client.get(
        reverse("forecasting:forecast"),
        {"period": "2026-Q4", "team": org["team_a"].pk, "export": "rollup"},
    )
    body = b"".join(response.streaming_content).decode()
    assert response["Content-Type"].startswith("text/csv")
    assert "'=HYPERLINK(1)" in body
    assert "\n=HYPERLINK" not in body


@pytest.mark.parametrize("size", [2, 6])
def test_forecast_page_query_count_does_not_grow(
    client, admin_user, org, size, django_assert_max_num_queries
):
    for i in range(size):
        team = TeamFactory(name=f"T{size}-{i}", parent=org["region"])
        for j in range(size):
            person = UserFactory(username=f"r{size}-{i}-{j}", role="rep", team=team)
            deal(person, amount="100")
            deal(person, stage="Closed Won", amount="50", close=date(2026, 10, 2))
            Quota.objects.create(user=person, period="2026-Q4", amount=Decimal("500"))
    client.force_login(admin_user)
    with django_assert_max_num_queries(22):
        response = client.get(
            reverse("forecasting:forecast"), {"period": "2026-Q4", "team": org["region"].pk}
        )
    assert response.status_code == 200


def test_rep_page_shows_own_row_and_deals_but_no_adjust(client, rep, other_rep):
    deal(rep, amount="4321", name="Mine")
    deal(other_rep, amount="8765", name="Theirs")
    client.force_login(rep)
    body = client.get(reverse("forecasting:forecast"), {"period": "2026-Q4"}).content.decode()
    assert "Mine" in body
    assert "4,321" in body
    assert "Theirs" not in body
    assert "8,765" not in body
    assert ">Adjust<" not in body


def test_admin_page_starts_at_the_whole_org(client, admin_user, rep, other_rep):
    deal(rep, amount="100")
    deal(other_rep, amount="200")
    client.force_login(admin_user)
    body = client.get(reverse("forecasting:forecast"), {"period": "2026-Q4"}).content.decode()
    assert "Forecast · Organisation" in body
    assert "300" in body
