"""The lead and event APIs against hostile JSON: absurd nesting in `attributes` / `properties`
and NUL characters (PostgreSQL refuses them in text and JSON columns). Each is a 400 that says
why; nothing is written, not even the well-formed records of the same batch."""

from __future__ import annotations

import json

import pytest

from leads.models import Lead
from scoring.models import EngagementEvent
from tests.factories import LeadFactory, make_token
from tests.leads.factories import lead_payload

pytestmark = pytest.mark.django_db

IMPORT = "/api/v1/leads/import/"
EVENTS = "/api/v1/events/"


@pytest.fixture
def send(client, marketing):
    headers = {"Authorization": f"Bearer {make_token(marketing, ['leads:write', 'events:write'])}"}

    def send(method: str, url: str, body: str):
        return client.generic(method, url, body, content_type="application/json", headers=headers)

    return send


def nested(depth: int) -> str:
    """JSON text of an object `depth` levels deep (built as text: json.dumps would recurse)."""
    return '{"k":' * depth + '"deep"' + "}" * depth


def stored() -> dict[str, list]:
    return {
        "leads": list(Lead.objects.order_by("pk").values()),
        "events": list(EngagementEvent.objects.order_by("pk").values()),
    }


@pytest.fixture
def lead():
    return LeadFactory(email="ada@x.example", attributes={"plan": "pro"})


def event_text(properties: str) -> str:
    return (
        '[{"id": "e-good", "lead": {"email": "ada@x.example"}, "type": "page_viewed",'
        ' "occurred_at": "2026-01-05T10:00:00Z"},'
        ' {"id": "e-deep", "lead": {"email": "ada@x.example"}, "type": "page_viewed",'
        f' "occurred_at": "2026-01-05T10:00:00Z", "properties": {properties}}}]'
    )


def import_text(attributes: str) -> str:
    good = json.dumps(lead_payload(1))
    return (
        f'{{"match_on": "email", "leads": [{good},'
        f' {{"email": "deep@x.example", "attributes": {attributes}}}]}}'
    )


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_deeply_nested_json_anywhere_is_a_400_and_writes_nothing(send, lead, depth):
    before = stored()
    for method, url, body in [
        ("POST", IMPORT, import_text(nested(depth))),
        ("PATCH", f"/api/v1/leads/{lead.pk}/", f'{{"attributes": {nested(depth)}}}'),
        ("POST", EVENTS, event_text(nested(depth))),
    ]:
        response = send(method, url, body)
        assert response.status_code == 400, (url, response.status_code)
        assert response.json() == {"detail": "JSON nested deeper than 32 levels."}
    assert stored() == before


def test_nesting_within_the_limit_is_stored_as_sent(send, lead):
    response = send("PATCH", f"/api/v1/leads/{lead.pk}/", f'{{"attributes": {nested(20)}}}')
    assert response.status_code == 200
    lead.refresh_from_db()
    assert lead.attributes["plan"] == "pro"
    assert json.dumps(lead.attributes["k"]).count("{") == 19


@pytest.mark.parametrize(
    ("method", "where"),
    [
        ("POST", "import-name"),
        ("POST", "import-attribute-key"),
        ("PATCH", "name"),
        ("PATCH", "attribute-value"),
        ("POST", "event-property"),
        ("POST", "event-id"),
    ],
)
def test_a_nul_character_is_a_400_not_a_server_error(send, lead, method, where):
    nul = "\\u0000"  # as JSON text carries it
    body = {
        "import-name": import_text("{}").replace('"First1"', f'"Fir{nul}st"'),
        "import-attribute-key": import_text(f'{{"pl{nul}an": 1}}'),
        "name": f'{{"first_name": "Ad{nul}a"}}',
        "attribute-value": f'{{"attributes": {{"plan": "pr{nul}o"}}}}',
        "event-property": event_text(f'{{"url": "/pricing{nul}"}}'),
        "event-id": event_text("{}").replace('"e-good"', f'"e-{nul}good"'),
    }[where]
    url = {"POST": EVENTS if where.startswith("event") else IMPORT}.get(
        method, f"/api/v1/leads/{lead.pk}/"
    )
    before = stored()
    response = send(method, url, body)
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON text may not contain NUL (\\u0000) characters."}
    assert stored() == before


def test_an_escaped_backslash_before_u0000_is_plain_text_and_accepted(send, lead):
    response = send("PATCH", f"/api/v1/leads/{lead.pk}/", r'{"first_name": "C:\\u0000"}')
    assert response.status_code == 200
    lead.refresh_from_db()
    assert lead.first_name == "C:\\u0000"
