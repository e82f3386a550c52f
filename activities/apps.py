from __future__ import annotations

from django.apps import AppConfig


class ActivitiesConfig(AppConfig):
    name = "activities"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from activities import selectors, services
        from crm import registry

        registry.register_dashboard_panel(
            registry.DashboardPanel(
                key="tasks_due",
                order=10,
                template="activities/_dashboard_tasks.html",
                items=selectors.tasks_due,
            )
        )
        # A departing user's open tasks on the records they hand over go along.
        registry.register_hand_over_follower("open_tasks", services.hand_over_open_tasks)
