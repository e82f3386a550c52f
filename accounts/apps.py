from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # AppConfig modules load before the models: the registrations import them here.
        from accounts import registrations

        registrations.register()
