from __future__ import annotations

from django.apps import AppConfig


class ActivitiesConfig(AppConfig):
    name = "activities"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models import Q

        from activities import merge, payloads, seed, selectors, services
        from activities import registry as activities_registry
        from activities.models import Activity, EmailMessage
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
        # Who reads an e-mail's delivery status: whoever sees the record it was sent from.
        registry.register_outbox_scope(
            "activities.email",
            lambda user: Q(email_activity__in=EmailMessage.objects.visible_to(user).values("pk")),
        )
        registry.register_settings_link(
            registry.SettingsLink(
                key="email_templates",
                label="E-mail templates",
                url_name="activities:email_templates",
                order=40,
            )
        )
        activities_registry.register_merge_group(
            name="sender", fields=merge.SENDER_FIELDS, order=90
        )
        registry.register_demo_seeder(
            registry.DemoSeeder(label="activities.email_templates", order=60, run=seed.run)
        )
        # The object of activity.created webhook events (visible as Activity.visible_to says).
        webhooks_registry.register_record(
            model=Activity,
            name="activity",
            serialize=payloads.activity_payloads,
            schema=payloads.ActivityPayloadSerializer,
        )
