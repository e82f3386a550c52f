"""forecasting API routes (mounted under /api/v1/)."""

from __future__ import annotations

from django.urls import path

from forecasting import api

urlpatterns = [
    path("forecast/", api.ForecastView.as_view(), name="api-forecast"),
    path("metrics/pipeline-size/", api.PipelineSizeView.as_view(), name="api-pipeline-size"),
]
