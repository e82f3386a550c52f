"""Settings pages that live in crm (tokens, users, teams, job runs). Apps add their own."""

from __future__ import annotations

from django.urls import path

from crm import views_settings

app_name = "settings"

urlpatterns = [
    path("settings/tokens/", views_settings.token_list, name="tokens"),
    path("settings/tokens/<int:pk>/revoke/", views_settings.revoke_token, name="revoke_token"),
]
