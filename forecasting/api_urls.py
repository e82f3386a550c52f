"""forecasting API routes (mounted under /api/v1/)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

router = SimpleRouter()

urlpatterns = router.urls
