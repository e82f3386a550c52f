"""pipeline API routes (mounted under /api/v1/)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from pipeline import api

router = SimpleRouter()
router.register("pipelines", api.PipelineViewSet, basename="pipeline")
router.register("opportunities", api.OpportunityViewSet, basename="opportunity")

urlpatterns = router.urls
