from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Outbound webhooks (README "Webhooks"). Sits just above crm: the features that emit
    events (leads, pipeline, activities) import it and register their records with
    webhooks.registry; it imports none of them."""

    name = "webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crm import registry
        from crm.permissions import is_marketing_or_admin

        registry.register_settings_link(
            registry.SettingsLink(
                key="webhooks",
                label="Webhooks: signed event deliveries to other systems",
                url_name="webhooks:list",
                order=40,
                section="index",
                visible=is_marketing_or_admin,
            )
        )
