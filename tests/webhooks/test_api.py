"""The webhooks API contract: /api/v1/webhooks/ (scope webhooks:write)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from crm.models import AuditLog
from tests.factories import make_token
from tests.webhooks.factories import WebhookDeliveryFactory, WebhookSubscriptionFactory
from webhooks.models import WebhookSubscription

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhooks/"
HOOK = "https://hooks.example.com/plumb"


@pytest.fixture(autouse=True)
def _public_hooks_host(public_hooks_host):
    """hooks.example.com resolves to a public address."""


def _client(user, scopes=("webhooks:write",)):
    client = Client()
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {make_token(user, list(scopes))}"
    return client


def _post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def _patch(client, url, body):
    return client.patch(url, json.dumps(body), content_type="application/json")


def test_create_returns_the_secret_once(admin_user, rep):
    client = _client(admin_user)
    body = {"url": HOOK, "events": ["lead.created", "opportunity.won"], "acting_user": rep.pk}
    response = _post(client, URL, body)
    assert response.status_code == 201
    created = response.json()
    assert set(created) == {
        "id",
        "url",
        "events",
        "active",
        "acting_user",
        "secret",
        "disabled_at",
        "disabled_reason",
        "created_at",
        "updated_at",
    }
    assert created["secret"].startswith("whsec_")
    assert (created["url"], created["active"], created["acting_user"]) == (HOOK, True, rep.pk)
    assert created["events"] == ["lead.created", "opportunity.won"]
    read = client.get(f"{URL}{created['id']}/").json()
    assert "secret" not in read
    assert created["secret"] not in json.dumps(client.get(URL).json())
    subscription = WebhookSubscription.objects.get()
    assert created["secret"] not in subscription.secret  # stored encrypted
    assert subscription.signing_secrets(subscription.created_at) == [created["secret"]]
    assert AuditLog.objects.filter(action="webhook.create").count() == 1


def test_rotate_secret_returns_a_new_one(admin_user):
    client = _client(admin_user)
    created = _post(client, URL, {"url": HOOK, "events": ["lead.created"]}).json()
    rotated = _post(client, f"{URL}{created['id']}/rotate-secret/", {})
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in ("", created["secret"])


def test_patch_and_delete(admin_user):
    client = _client(admin_user)
    created = _post(client, URL, {"url": HOOK, "events": ["lead.created"]}).json()
    patched = _patch(
        client, f"{URL}{created['id']}/", {"active": False, "events": ["lead.updated"]}
    )
    assert patched.status_code == 200
    assert (patched.json()["active"], patched.json()["events"]) == (False, ["lead.updated"])
    assert client.delete(f"{URL}{created['id']}/").status_code == 204
    assert WebhookSubscription.objects.exists() is False


def test_deliveries_list_the_log_newest_first(admin_user, django_assert_max_num_queries):
    subscription = WebhookSubscriptionFactory(owner=admin_user)
    client = _client(admin_user)
    for size in (3, 30):
        WebhookDeliveryFactory.create_batch(size, subscription=subscription)
        with django_assert_max_num_queries(7):
            response = client.get(f"{URL}{subscription.pk}/deliveries/?page_size=100")
        rows = response.json()["results"]
        assert len(rows) == subscription.deliveries.count()
        assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
        assert set(rows[0]) >= {"event", "type", "state", "attempts", "last_status_code"}


def test_the_list_is_constant_in_queries(admin_user, django_assert_max_num_queries):
    client = _client(admin_user)
    for size in (2, 20):
        WebhookSubscriptionFactory.create_batch(size, owner=admin_user)
        with django_assert_max_num_queries(6):
            response = client.get(URL)
        assert len(response.json()["results"]) == WebhookSubscription.objects.count()


def test_marketing_manages_lead_events_acting_as_themselves(marketing, admin_user):
    client = _client(marketing)
    ok = _post(client, URL, {"url": HOOK, "events": ["lead.created", "form.submitted"]})
    assert ok.status_code == 201
    assert ok.json()["acting_user"] == marketing.pk
    deals = _post(client, URL, {"url": HOOK, "events": ["opportunity.won"]})
    assert deals.status_code == 400
    assert "opportunity.won" in deals.json()["events"][0]
    other = _post(
        client, URL, {"url": HOOK, "events": ["lead.created"], "acting_user": admin_user.pk}
    )
    assert other.status_code == 400
    assert "acting_user" in other.json()
    assert WebhookSubscription.objects.count() == 1


def test_marketing_cannot_see_an_admins_subscription(marketing, admin_user):
    theirs = WebhookSubscriptionFactory(owner=admin_user)
    client = _client(marketing)
    assert client.get(f"{URL}{theirs.pk}/").status_code == 404
    assert _patch(client, f"{URL}{theirs.pk}/", {"active": False}).status_code == 404
    assert client.delete(f"{URL}{theirs.pk}/").status_code == 404
    assert _post(client, f"{URL}{theirs.pk}/rotate-secret/", {}).status_code == 404
    assert client.get(f"{URL}{theirs.pk}/deliveries/").status_code == 404
    assert client.get(URL).json()["results"] == []
    theirs.refresh_from_db()
    assert theirs.is_active is True


@pytest.mark.parametrize("role", ["rep", "manager"])
def test_reps_and_managers_are_refused(request, role):
    user = request.getfixturevalue(role)
    client = _client(user)
    assert client.get(URL).status_code == 403
    assert _post(client, URL, {"url": HOOK, "events": ["lead.created"]}).status_code == 403
    assert WebhookSubscription.objects.exists() is False


def test_a_token_without_the_scope_is_refused(admin_user):
    client = _client(admin_user, scopes=("leads:write", "read:all"))
    assert client.get(URL).status_code == 403
    assert _post(client, URL, {"url": HOOK, "events": ["lead.created"]}).status_code == 403
    assert WebhookSubscription.objects.exists() is False


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"url": "ftp://hooks.example.com/x", "events": ["lead.created"]}, "url", "https://"),
        ({"url": "javascript:alert(1)", "events": ["lead.created"]}, "url", "https://"),
        ({"url": "http://hooks.example.com/x", "events": ["lead.created"]}, "url", "https://"),
        ({"url": "https://10.0.0.8/x", "events": ["lead.created"]}, "url", "private address"),
        ({"url": "https://localhost/x", "events": ["lead.created"]}, "url", "loopback"),
        ({"url": "https://169.254.169.254/x", "events": ["lead.created"]}, "url", "metadata"),
        ({"url": HOOK, "events": []}, "events", "empty"),
        ({"url": HOOK, "events": ["lead.exploded"]}, "events", "lead.exploded"),
        ({"url": HOOK, "events": "lead.created"}, "events", "list"),
        ({"url": HOOK, "events": ["lead.created"], "secret": "mine"}, "secret", "Unknown"),
        ({"url": HOOK, "events": ["lead.created"], "acting_user": 999999}, "acting_user", "object"),
        ({"events": ["lead.created"]}, "url", "required"),
    ],
)
def test_bad_input_is_refused_clearly_and_nothing_is_written(
    admin_user, settings, body, field, message
):
    settings.DEBUG = False
    response = _post(_client(admin_user), URL, body)
    assert response.status_code == 400
    assert message.lower() in json.dumps(response.json()[field]).lower()
    assert WebhookSubscription.objects.exists() is False


def test_a_bad_patch_changes_nothing(admin_user):
    subscription = WebhookSubscriptionFactory(owner=admin_user, url=HOOK)
    response = _patch(
        _client(admin_user),
        f"{URL}{subscription.pk}/",
        {"url": "https://10.1.1.1/", "active": False},
    )
    assert response.status_code == 400
    subscription.refresh_from_db()
    assert (subscription.url, subscription.is_active) == (HOOK, True)


def test_deeply_nested_and_oversized_bodies_are_refused(admin_user):
    client = _client(admin_user)
    nested = '{"url": "' + HOOK + '", "events": ' + "[" * 100 + "]" * 100 + "}"
    assert client.post(URL, nested, content_type="application/json").status_code == 400
    huge = {"url": HOOK + "?" + "x" * 3000, "events": ["lead.created"]}
    assert _post(client, URL, huge).status_code == 400
    assert WebhookSubscription.objects.exists() is False


def test_the_schema_documents_the_api_and_every_payload(admin_user):
    client = Client()
    client.force_login(admin_user)
    schema = client.get("/api/schema/?format=json").json()
    assert "/api/v1/webhooks/{id}/rotate-secret/" in schema["paths"]
    assert "/api/v1/webhooks/{id}/deliveries/" in schema["paths"]
    components = schema["components"]["schemas"]
    for name in (
        "WebhookEventLeadCreated",
        "WebhookEventOpportunityWon",
        "WebhookEventActivityCreated",
    ):
        assert name in components, sorted(components)
