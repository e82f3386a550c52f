from __future__ import annotations

from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Plumb core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crm import api_schema  # noqa: F401  (registers the OpenAPI auth extension)
