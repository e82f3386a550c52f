from __future__ import annotations

from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # AppConfig modules load before the models: the seed imports them.
        from crm import registry
        from scoring import seed

        # After leads (scoring replays events on demo leads).
        registry.register_demo_seeder(registry.DemoSeeder(label="scoring", order=40, run=seed.run))
