"""API throttling: each scope (import, events, the rest) has its own budget per client; over it,
429 with Retry-After and nothing written."""

from __future__ import annotations

import pytest

from leads.models import Lead
from scoring.models import EngagementEvent
from tests.factories import LeadFactory, make_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    settings.API_THROTTLE_RATES = {"import": "2/min", "events": "3/min", "api": "4/min"}
    return settings.API_THROTTLE_RATES


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _import(client, token: str, email: str):
    body = {"leads": [{"email": email, "first_name": "A", "last_name": "B"}]}
    return client.post(
        "/api/v1/leads/import/", body, content_type="application/json", headers=_auth(token)
    )


def test_the_import_scope_answers_429_with_retry_after_past_its_rate(client, marketing, rates):
    token = make_token(marketing, ["leads:write", "leads:read"])
    assert _import(client, token, "a@example.com").status_code == 200
    assert _import(client, token, "b@example.com").status_code == 200
    # when the third batch within the minute arrives
    throttled = _import(client, token, "c@example.com")
    # then it is refused with a time to wait, and not imported
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert "throttled" in throttled.json()["detail"].lower()
    assert set(Lead.objects.values_list("email", flat=True)) == {"a@example.com", "b@example.com"}
    # the rest of the API has a budget of its own
    assert client.get("/api/v1/leads/", headers=_auth(token)).status_code == 200


def test_events_have_their_own_scope_and_each_token_its_own_budget(client, marketing, rates):
    lead = LeadFactory()
    first = make_token(marketing, ["events:write"])
    second = make_token(marketing, ["events:write"])

    def send(token: str, n: int):
        event = {
            "id": f"e{n}",
            "lead": {"email": lead.email},
            "type": "email_opened",
            "occurred_at": "2026-01-01T00:00:00Z",
        }
        return client.post(
            "/api/v1/events/", event, content_type="application/json", headers=_auth(token)
        )

    assert [send(first, n).status_code for n in range(4)] == [200, 200, 200, 429]
    assert send(second, 9).status_code == 200
    assert EngagementEvent.objects.count() == 4


def test_the_rest_of_the_api_is_throttled_too_and_off_means_off(client, marketing, settings):
    token = make_token(marketing, ["leads:read"])
    settings.API_THROTTLE_RATES = {"import": None, "events": None, "api": "2/min"}
    codes = [client.get("/api/v1/leads/", headers=_auth(token)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    settings.API_THROTTLE_RATES = {"import": None, "events": None, "api": None}
    assert client.get("/api/v1/leads/", headers=_auth(token)).status_code == 200


def test_bad_tokens_are_not_counted_against_the_scope_budgets(client, marketing, rates):
    # Bad tokens have their own per-IP guard (crm.api.auth); they never reach the throttle.
    token = make_token(marketing, ["leads:read"])
    for _ in range(5):
        assert client.get("/api/v1/leads/", headers=_auth("plumb_x_y")).status_code == 401
    assert client.get("/api/v1/leads/", headers=_auth(token)).status_code == 200
