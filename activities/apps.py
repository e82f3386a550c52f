from __future__ import annotations

from django.apps import AppConfig


class ActivitiesConfig(AppConfig):
    name = "activities"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from activities import payloads, selectors, services
        from activities.models import Activity
        from crm import registry
        from webhooks import registry as webhooks_registry

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
        # The object of activity.created webhook events (visible as Activity.visible_to says).
        webhooks_registry.register_record(
            model=Activity,
            name="activity",
            serialize=payloads.activity_payloads,
            schema=payloads.ActivityPayloadSerializer,
        )
