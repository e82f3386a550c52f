"""Accounts and contacts API routes (mounted under /api/v1/)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from accounts import api

router = SimpleRouter()
router.register("accounts", api.AccountViewSet, basename="account")
router.register("contacts", api.ContactViewSet, basename="contact")

urlpatterns = router.urls
