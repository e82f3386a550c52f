from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import time_machine

from forecasting.models import Quota
from forecasting.selectors import FIGURES
from tests.factories import TeamFactory, UserFactory, make_token
from tests.forecasting.factories import deal

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel(date(2026, 11, 23), tick=False):
        yield


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_forecast_json_has_exactly_the_documented_shape(client, manager, rep, org):
    deal(rep, amount="3000")
    deal(rep, stage="Closed Won", amount="1000", close=date(2026, 10, 9))
    Quota.objects.create(user=rep, period="2026-Q4", amount=Decimal("8000"))
    token = make_token(manager, ["opportunities:read"])
    response = client.get(
        "/api/v1/forecast/", {"period": "2026-Q4", "team": org["team_a"].pk}, headers=auth(token)
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"period", "node", "rows", "total"}
    assert body["period"] == "2026-Q4"
    assert body["node"] == {"type": "team", "id": org["team_a"].pk, "name": "Team A"}
    assert set(body["total"]) == set(FIGURES)
    row = next(r for r in body["rows"] if r["node"]["id"] == rep.pk)
    assert set(row) == {"node", *FIGURES}
    assert row["closed_won"] == "1000.00"
    assert row["commit_forecast"] == "4000.00"
    assert row["attainment"] == 0.125
    assert row["coverage"] == round(3000 / 7000, 4)


def test_forecast_defaults_to_the_viewers_node_and_read_all_works(client, admin_user):
    token = make_token(admin_user, ["read:all"])
    response = client.get("/api/v1/forecast/", headers=auth(token))
    assert response.status_code == 200
    assert response.json()["node"]["type"] == "org"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"period": "2026-Q5"}, "period"), ({"period": "26Q4"}, "period"), ({"team": "abc"}, "team")],
)
def test_bad_period_or_team_is_400_with_a_message(client, manager, params, field):
    client.force_login(manager)
    response = client.get("/api/v1/forecast/", params)
    assert response.status_code == 400
    assert field in response.json()


def test_team_outside_the_subtree_is_404(client, manager, other_manager, org):
    client.force_login(manager)
    assert client.get("/api/v1/forecast/", {"team": org["team_b"].pk}).status_code == 404
    assert client.get("/api/v1/forecast/", {"team": 987654}).status_code == 404


def test_rep_gets_their_own_row_and_no_team(client, rep, other_rep, org):
    deal(other_rep, amount="999")
    deal(rep, amount="5")
    client.force_login(rep)
    body = client.get("/api/v1/forecast/", {"period": "2026-Q4"}).json()
    assert [r["node"]["id"] for r in body["rows"]] == [rep.pk]
    assert body["total"]["commit"] == "5.00"
    assert client.get("/api/v1/forecast/", {"team": org["team_a"].pk}).status_code == 404


def test_token_without_scope_is_refused(client, manager):
    token = make_token(manager, ["leads:write"])
    assert client.get("/api/v1/forecast/", headers=auth(token)).status_code == 403


@pytest.mark.parametrize("size", [2, 6])
def test_forecast_api_query_count_does_not_grow(
    client, admin_user, org, size, django_assert_max_num_queries
):
    for i in range(size):
        team = TeamFactory(name=f"api{size}-{i}", parent=org["region"])
        for j in range(size):
            deal(UserFactory(username=f"a{size}-{i}-{j}", role="rep", team=team))
    client.force_login(admin_user)
    with django_assert_max_num_queries(13):
        response = client.get("/api/v1/forecast/", {"period": "2026-Q4"})
    assert response.status_code == 200


def test_pipeline_size_endpoint_matches_the_example(client, manager):
    client.force_login(manager)
    response = client.get(
        "/api/v1/metrics/pipeline-size/",
        {"target_revenue": "100000", "avg_deal_size": "500", "close_rate": "0.8", "reps": "10"},
    )
    assert response.status_code == 200
    assert response.json() == {
        "target_revenue": "100000.00", "avg_deal_size": "500.00", "close_rate": 0.8, "reps": 10,
        "deals_needed": 200, "leads_needed": 250, "leads_per_rep": 25,
    }  # fmt: skip


def test_pipeline_size_defaults_to_measured_values(client, manager, rep):
    deal(rep, stage="Closed Won", amount="500", close=date(2026, 10, 9))
    deal(rep, stage="Closed Lost", amount="100", close=date(2026, 10, 9))
    client.force_login(manager)
    body = client.get("/api/v1/metrics/pipeline-size/", {"target_revenue": "1000"}).json()
    assert (body["avg_deal_size"], body["close_rate"], body["deals_needed"], body["leads_needed"]) == (
        "500.00", 0.5, 2, 4,
    )  # fmt: skip


def test_pipeline_size_bad_input_is_400_with_field_errors(client, manager):
    client.force_login(manager)
    response = client.get(
        "/api/v1/metrics/pipeline-size/", {"target_revenue": "x", "close_rate": "0", "reps": "-2"}
    )
    assert response.status_code == 400
    assert {"target_revenue", "close_rate", "reps"} <= set(response.json())


def test_marketing_has_no_forecast(client, marketing):
    client.force_login(marketing)
    assert client.get("/api/v1/forecast/").status_code == 404
    assert client.get("/forecast/").status_code == 404
