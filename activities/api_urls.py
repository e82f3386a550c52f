"""activities API routes (mounted under /api/v1/)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from activities import api

router = SimpleRouter()
router.register("emails", api.EmailViewSet, basename="email")

urlpatterns = router.urls
