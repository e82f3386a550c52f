from __future__ import annotations

from django.apps import AppConfig


class ForecastingConfig(AppConfig):
    name = "forecasting"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # AppConfig modules load before the models: the seed imports them.
        from crm import registry
        from forecasting import seed

        # After pipeline (quotas and snapshots are built from the demo deals).
        registry.register_demo_seeder(
            registry.DemoSeeder(label="forecasting", order=50, run=seed.run)
        )
