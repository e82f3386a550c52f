"""leads API routes (mounted under /api/v1/)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from leads.api import LeadViewSet

router = SimpleRouter()
router.register("leads", LeadViewSet, basename="lead")

urlpatterns = router.urls
