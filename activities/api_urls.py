"""Activities API routes (mounted under /api/v1/): activities, and e-mail sent from the CRM."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from activities import api, email_api

router = SimpleRouter()
router.register("activities", api.ActivityViewSet, basename="activity")
router.register("emails", email_api.EmailViewSet, basename="email")

urlpatterns = router.urls
