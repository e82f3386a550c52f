"""GET/PATCH /api/v1/leads/: filters, visibility for every role, scopes, query counts."""

from __future__ import annotations

import pytest

from leads.models import Lead
from tests.factories import LeadFactory, make_token

pytestmark = pytest.mark.django_db


def get(client, user, url, scopes=("leads:read",)):
    token = make_token(user, list(scopes))
    return client.get(url, headers={"Authorization": f"Bearer {token}"})


def emails(response):
    return sorted(row["email"] for row in response.json()["results"])


def test_filters_and_search(client, marketing, rep):
    LeadFactory(email="ada@analytical.example", company="Engines", stage="mql", score=80, owner=rep)
    LeadFactory(email="bob@builder.example", company="Builders", stage="new", score=10)
    assert emails(get(client, marketing, "/api/v1/leads/?stage=mql")) == ["ada@analytical.example"]
    assert emails(get(client, marketing, "/api/v1/leads/?score_min=50")) == [
        "ada@analytical.example"
    ]
    assert emails(get(client, marketing, f"/api/v1/leads/?owner={rep.pk}")) == [
        "ada@analytical.example"
    ]
    assert emails(get(client, marketing, "/api/v1/leads/?search=build")) == ["bob@builder.example"]
    since = get(client, marketing, "/api/v1/leads/?updated_since=2000-01-01T00:00:00Z")
    assert len(since.json()["results"]) == 2


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("rep", ["mine@x.example"]),
        ("other_rep", ["theirs@x.example"]),
        ("manager", ["mine@x.example", "nobody@x.example"]),
        ("marketing", ["mine@x.example", "nobody@x.example", "theirs@x.example"]),
        ("admin_user", ["mine@x.example", "nobody@x.example", "theirs@x.example"]),
    ],
)
def test_every_role_sees_its_scope(client, request, rep, other_rep, role, expected):
    LeadFactory(email="mine@x.example", owner=rep)
    LeadFactory(email="theirs@x.example", owner=other_rep)
    LeadFactory(email="nobody@x.example")
    user = request.getfixturevalue(role)
    assert emails(get(client, user, "/api/v1/leads/")) == expected


def test_out_of_scope_lead_is_404(client, rep, other_rep):
    lead = LeadFactory(owner=other_rep)
    assert get(client, rep, f"/api/v1/leads/{lead.pk}/").status_code == 404


def test_bad_token_is_401(client):
    response = client.get("/api/v1/leads/", headers={"Authorization": "Bearer plumb_nope_nope"})
    assert response.status_code == 401


def test_read_all_scope_reads_leads(client, marketing):
    LeadFactory()
    assert get(client, marketing, "/api/v1/leads/", scopes=("read:all",)).status_code == 200


def test_write_only_token_cannot_read(client, marketing):
    response = get(client, marketing, "/api/v1/leads/", scopes=("leads:write",))
    assert response.status_code == 403
    assert "leads:read" in response.json()["detail"]


def patch(client, user, lead, body):
    token = make_token(user, ["leads:write"])
    return client.patch(
        f"/api/v1/leads/{lead.pk}/",
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


def test_patch_changes_only_sent_fields(client, rep):
    lead = LeadFactory(owner=rep, title="CTO", phone="123")
    response = patch(client, rep, lead, {"title": "CEO", "email": " NEW@Firm.example"})
    assert response.status_code == 200
    lead.refresh_from_db()
    assert (lead.title, lead.phone, lead.email) == ("CEO", "123", "new@firm.example")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "bad"}, "email"),
        ({"stage": "sql"}, "stage"),
        ({"shoe_size": 9}, "non_field_errors"),
        ({"employee_count": -1}, "employee_count"),
        ({"attributes": "x"}, "attributes"),
    ],
)
def test_patch_rejects_bad_fields_and_changes_nothing(client, rep, body, field):
    lead = LeadFactory(owner=rep, title="CTO")
    response = patch(client, rep, lead, body)
    assert response.status_code == 400
    assert field in response.json()
    assert Lead.objects.get(pk=lead.pk).title == "CTO"


def test_patch_taken_email_is_400(client, rep):
    LeadFactory(email="taken@x.example")
    lead = LeadFactory(owner=rep)
    response = patch(client, rep, lead, {"email": "taken@x.example"})
    assert response.status_code == 400
    assert "email" in response.json()


def test_list_query_count_is_constant(client, marketing, rep, django_assert_max_num_queries):
    token = make_token(marketing, ["leads:read"])
    for size in (3, 60):
        LeadFactory.create_batch(size, owner=rep)
        with django_assert_max_num_queries(4):
            response = client.get("/api/v1/leads/", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200


def test_openapi_schema_documents_the_lead_endpoints(client, admin_user):
    client.force_login(admin_user)
    schema = client.get("/api/schema/", headers={"Accept": "application/json"}).content.decode()
    for path in ("/api/v1/leads/import/", "/api/v1/leads/{id}/transition/", "/api/v1/leads/"):
        assert path in schema
    assert "Idempotency-Key" in schema
