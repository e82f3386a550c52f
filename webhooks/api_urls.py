"""webhooks API routes (mounted under /api/v1/)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from webhooks import api

router = SimpleRouter()
router.register("webhooks", api.WebhookViewSet, basename="webhook")

urlpatterns = router.urls
