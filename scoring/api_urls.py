"""scoring API routes (mounted under /api/v1/)."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from scoring import api

router = SimpleRouter()
router.register("scoring/rules", api.ScoringRuleViewSet, basename="scoring-rule")
router.register("scoring/rescore-jobs", api.RescoreJobViewSet, basename="scoring-rescore-job")

urlpatterns = [
    path("leads/<int:pk>/score/", api.LeadScoreView.as_view(), name="api-lead-score"),
    path("events/", api.EventsView.as_view(), name="api-events"),
    *router.urls,
]
