from __future__ import annotations

from django.urls import path

from forecasting import views

app_name = "forecasting"

urlpatterns = [
    path("forecast/", views.forecast, name="forecast"),
    path("forecast/adjust/", views.adjust_commit, name="adjust_commit"),
    path("forecast/quotas/", views.quotas, name="quotas"),
    path("forecast/quotas/cell/", views.quota_cell, name="quota_cell"),
    path("forecast/quotas/import/", views.import_quotas, name="import_quotas"),
    path("forecast/fiscal-year/", views.fiscal_year, name="fiscal_year"),
    path("reports/", views.reports, name="reports"),
    path("reports/pipeline-size/", views.pipeline_size, name="pipeline_size"),
]
