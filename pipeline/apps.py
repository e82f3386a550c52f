from __future__ import annotations

from django.apps import AppConfig


class PipelineConfig(AppConfig):
    name = "pipeline"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # AppConfig modules load before the models: the registrations import them here.
        from pipeline import registrations

        registrations.register()
