"""Settings → Webhooks: subscriptions (admins; marketing for their own, lead events only),
the secret shown once, "send test event", and the delivery log with resend."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from crm.forms import add_validation_error
from crm.http import AuthenticatedHttpRequest
from crm.permissions import is_marketing_or_admin, require
from webhooks import selectors, services
from webhooks.forms import WebhookSubscriptionForm
from webhooks.models import WebhookDelivery, WebhookSubscription

ONLY = "Only admins and marketing manage webhooks."


def _subscription(request: AuthenticatedHttpRequest, pk: int) -> WebhookSubscription:
    require(is_marketing_or_admin(request.user), ONLY)
    return get_object_or_404(
        WebhookSubscription.objects.visible_to(request.user).select_related("acting_user"), pk=pk
    )


@require_http_methods(["GET", "POST"])
def subscription_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    require(is_marketing_or_admin(request.user), ONLY)
    form = WebhookSubscriptionForm(request.POST or None, user=request.user)
    secret, created = "", None
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = services.create_subscription(by=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            form = WebhookSubscriptionForm(user=request.user)
    context = {
        "form": form,
        "subscriptions": selectors.subscription_list(user=request.user),
        "secret": secret,
        "created": created,
    }
    status = 422 if request.method == "POST" and created is None else 200
    return render(request, "webhooks/list.html", context, status=status)


@require_http_methods(["GET", "POST"])
def subscription_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    subscription = _subscription(request, pk)
    initial = {
        "url": subscription.url,
        "events": subscription.events,
        "acting_user": subscription.acting_user_id,
        "is_active": subscription.is_active,
    }
    form = WebhookSubscriptionForm(request.POST or None, initial=initial, user=request.user)
    if request.method == "POST" and form.is_valid():
        changed = {name: form.cleaned_data[name] for name in form.changed_data}
        try:
            services.update_subscription(subscription=subscription, by=request.user, values=changed)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, "Webhook saved.")
            return redirect("webhooks:detail", pk=pk)
    return _detail(request, subscription, form, status=422 if request.method == "POST" else 200)


def _detail(
    request: AuthenticatedHttpRequest,
    subscription: WebhookSubscription,
    form: WebhookSubscriptionForm,
    *,
    secret: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        "subscription": subscription,
        "form": form,
        "secret": secret,
        "attempts": selectors.attempt_log(subscription=subscription),
    }
    return render(request, "webhooks/detail.html", context, status=status)


@require_POST
def rotate_secret(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    subscription, secret = services.rotate_secret(
        subscription=_subscription(request, pk), by=request.user
    )
    form = WebhookSubscriptionForm(
        initial={
            "url": subscription.url,
            "events": subscription.events,
            "acting_user": subscription.acting_user_id,
            "is_active": subscription.is_active,
        },
        user=request.user,
    )
    return _detail(request, subscription, form, secret=secret)


@require_POST
def send_test_event(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    subscription = _subscription(request, pk)
    try:
        services.send_test_event(subscription=subscription, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Test event queued: its attempt appears in the log below.")
    return redirect("webhooks:detail", pk=pk)


@require_POST
def delete_subscription(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    subscription = _subscription(request, pk)
    services.delete_subscription(subscription=subscription, by=request.user)
    messages.success(request, f"Webhook to {subscription.url} deleted.")
    return redirect("webhooks:list")


@require_POST
def resend_delivery(request: AuthenticatedHttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    subscription = _subscription(request, pk)
    delivery = get_object_or_404(
        WebhookDelivery.objects.filter(subscription=subscription).select_related("event"),
        pk=delivery_pk,
    )
    resent = services.resend_delivery(delivery=delivery, by=request.user)
    note = "Queued again." if resent else "Already waiting to be sent."
    if request.htmx:
        return render(request, "webhooks/_resent.html", {"delivery": delivery, "note": note})
    messages.info(request, note)
    return redirect("webhooks:detail", pk=pk)
