"""Settings → Webhooks pages: who may use them, the secret shown once, the log and resend."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.webhooks.factories import WebhookDeliveryFactory, WebhookSubscriptionFactory
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription

pytestmark = pytest.mark.django_db

HOOK = "https://hooks.example.com/plumb"


@pytest.fixture(autouse=True)
def _public_hooks_host(public_hooks_host):
    """hooks.example.com resolves to a public address."""


@pytest.mark.parametrize(
    ("role", "status"), [("admin_user", 200), ("marketing", 200), ("rep", 403), ("manager", 403)]
)
def test_who_may_open_the_webhooks_page(client, request, role, status):
    client.force_login(request.getfixturevalue(role))
    assert client.get(reverse("webhooks:list")).status_code == status


def test_the_settings_index_links_to_it_for_admins_and_marketing(client, marketing, rep):
    client.force_login(marketing)
    assert reverse("webhooks:list") in client.get(reverse("crm:settings")).content.decode()
    client.force_login(rep)
    assert reverse("webhooks:list") not in client.get(reverse("crm:settings")).content.decode()


def test_creating_a_webhook_shows_its_secret_once(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("webhooks:list"),
        {
            "url": HOOK,
            "events": ["lead.created", "opportunity.won"],
            "acting_user": admin_user.pk,
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    subscription = WebhookSubscription.objects.get()
    (secret,) = subscription.signing_secrets(subscription.created_at)
    assert secret in response.content.decode()
    assert secret not in client.get(reverse("webhooks:list")).content.decode()
    assert (
        secret
        not in client.get(reverse("webhooks:detail", args=[subscription.pk])).content.decode()
    )


def test_marketing_is_offered_lead_events_only_and_refused_others(client, marketing):
    client.force_login(marketing)
    page = client.get(reverse("webhooks:list")).content.decode()
    assert 'value="lead.created"' in page
    assert 'value="opportunity.won"' not in page
    response = client.post(
        reverse("webhooks:list"),
        {"url": HOOK, "events": ["opportunity.won"], "acting_user": marketing.pk},
    )
    assert response.status_code == 422
    assert WebhookSubscription.objects.exists() is False


def test_a_private_url_is_refused_on_the_form(client, admin_user, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    client.force_login(admin_user)
    response = client.post(
        reverse("webhooks:list"),
        {
            "url": "https://192.168.1.5/hook",
            "events": ["lead.created"],
            "acting_user": admin_user.pk,
        },
    )
    assert response.status_code == 422
    assert "192.168.1.5 is a private address" in response.content.decode()
    assert WebhookSubscription.objects.exists() is False


def test_marketing_cannot_open_an_admins_webhook(client, marketing, admin_user):
    theirs = WebhookSubscriptionFactory(owner=admin_user)
    client.force_login(marketing)
    for name in ("detail", "rotate_secret", "send_test", "delete"):
        method = client.get if name == "detail" else client.post
        assert method(reverse(f"webhooks:{name}", args=[theirs.pk])).status_code == 404
    assert WebhookSubscription.objects.filter(pk=theirs.pk, is_active=True).exists()


def test_editing_switches_a_disabled_webhook_back_on(client, admin_user):
    subscription = WebhookSubscriptionFactory(
        owner=admin_user, url=HOOK, is_active=False, disabled_reason="Every delivery failed."
    )
    client.force_login(admin_user)
    response = client.post(
        reverse("webhooks:detail", args=[subscription.pk]),
        {"url": HOOK, "events": ["lead.created"], "acting_user": admin_user.pk, "is_active": "on"},
    )
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.is_active, subscription.disabled_reason) == (True, "")


def test_rotating_shows_the_new_secret_once(client, admin_user):
    subscription = WebhookSubscriptionFactory(owner=admin_user)
    client.force_login(admin_user)
    response = client.post(reverse("webhooks:rotate_secret", args=[subscription.pk]))
    subscription.refresh_from_db()
    new, old = subscription.signing_secrets(subscription.updated_at)
    assert new in response.content.decode()
    assert old not in response.content.decode()


def test_send_test_event_queues_one_for_this_webhook(client, admin_user):
    subscription = WebhookSubscriptionFactory(owner=admin_user)
    WebhookSubscriptionFactory(owner=admin_user)
    client.force_login(admin_user)
    response = client.post(reverse("webhooks:send_test", args=[subscription.pk]))
    assert response.status_code == 302
    event = WebhookEvent.objects.get()
    assert event.type == "webhook.test"
    assert list(event.deliveries.values_list("subscription_id", flat=True)) == [subscription.pk]


def test_resend_from_the_log(client, admin_user):
    row = WebhookDeliveryFactory(subscription__owner=admin_user, state="failed", attempts=3)
    client.force_login(admin_user)
    url = reverse("webhooks:resend", args=[row.subscription_id, row.pk])
    response = client.post(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "Queued again." in response.content.decode()
    row.refresh_from_db()
    assert row.state == "pending"
    other = WebhookDeliveryFactory(state="failed")  # another subscription's delivery
    assert (
        client.post(reverse("webhooks:resend", args=[row.subscription_id, other.pk])).status_code
        == 404
    )
    assert WebhookDelivery.objects.get(pk=other.pk).state == "failed"


def test_deleting_removes_it(client, admin_user):
    subscription = WebhookSubscriptionFactory(owner=admin_user)
    client.force_login(admin_user)
    assert client.post(reverse("webhooks:delete", args=[subscription.pk])).status_code == 302
    assert WebhookSubscription.objects.exists() is False


def test_the_list_page_is_constant_in_queries(client, admin_user, django_assert_max_num_queries):
    client.force_login(admin_user)
    for size in (2, 20):
        WebhookSubscriptionFactory.create_batch(size, owner=admin_user)
        with django_assert_max_num_queries(14):
            response = client.get(reverse("webhooks:list"))
        assert (
            response.content.decode().count('id="webhook-row-')
            == WebhookSubscription.objects.count()
        )


def test_the_log_page_is_constant_in_queries(client, admin_user, django_assert_max_num_queries):
    subscription = WebhookSubscriptionFactory(owner=admin_user)
    client.force_login(admin_user)
    for size in (2, 20):
        for row in WebhookDeliveryFactory.create_batch(size, subscription=subscription):
            WebhookAttempt.objects.create(
                delivery=row, subscription=subscription, number=1, at=row.created_at,
                outcome="retry", status_code=503, duration_ms=12, response_excerpt="busy",
            )  # fmt: skip
        with django_assert_max_num_queries(14):
            response = client.get(reverse("webhooks:detail", args=[subscription.pk]))
        assert response.content.decode().count('id="attempt-') == WebhookAttempt.objects.count()
