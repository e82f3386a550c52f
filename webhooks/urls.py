"""Settings → Webhooks pages."""

from __future__ import annotations

from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("settings/webhooks/", views.subscription_list, name="list"),
    path("settings/webhooks/<int:pk>/", views.subscription_detail, name="detail"),
    path("settings/webhooks/<int:pk>/rotate/", views.rotate_secret, name="rotate_secret"),
    path("settings/webhooks/<int:pk>/test/", views.send_test_event, name="send_test"),
    path("settings/webhooks/<int:pk>/delete/", views.delete_subscription, name="delete"),
    path(
        "settings/webhooks/<int:pk>/deliveries/<int:delivery_pk>/resend/",
        views.resend_delivery,
        name="resend",
    ),
]
