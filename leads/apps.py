from __future__ import annotations

from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Tell scoring who owns the lead lifecycle: the leads its own passes score over the
        MQL threshold, and the unknown leads events ask for, come to leads.services."""
        # Imported here: services import models, which Django loads only after apps.py.
        from leads import services
        from scoring import handoff

        handoff.register(
            handoff.LeadLifecycle(
                qualify=services.qualify_crossers, create_leads=services.create_event_leads
            )
        )
