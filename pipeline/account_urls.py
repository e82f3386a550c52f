from __future__ import annotations

from django.urls import path

from crm.views_placeholder import placeholder

app_name = "accounts"

urlpatterns = [
    path("", placeholder("Accounts"), name="list"),
]
