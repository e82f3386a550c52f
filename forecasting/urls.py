from __future__ import annotations

from django.urls import path

from crm.views_placeholder import placeholder

app_name = "forecasting"

urlpatterns = [
    path("forecast/", placeholder("Forecast"), name="forecast"),
    path("reports/", placeholder("Reports"), name="reports"),
]
