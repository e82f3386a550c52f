from __future__ import annotations

from django.apps import AppConfig


class SigninConfig(AppConfig):
    """Sign-in: two-factor, single sign-on, sessions and password rules (README "Sign-in and
    security"). Sits above crm: it may import crm; crm learns about it through crm.registry."""

    name = "signin"
    verbose_name = "Sign-in and security"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib import admin
        from django.contrib.auth import signals

        from crm import registry
        from signin import receivers, sessions

        # Every way in (our /login/, SSO, the test client's force_login) starts a tracked
        # session; logging out forgets it. Thin receivers: the work is in signin.sessions.
        signals.user_logged_in.connect(receivers.on_logged_in, dispatch_uid="signin.logged_in")
        signals.user_logged_out.connect(receivers.on_logged_out, dispatch_uid="signin.logged_out")
        registry.register_credentials_follower("signin.sessions", sessions.after_password_change)
        registry.register_settings_link(
            registry.SettingsLink(
                key="security",
                label="Security: two-factor policy, single sign-on, session lifetime",
                url_name="signin:security",
                order=90,
                section="admin",
                visible=lambda user: user.is_admin,
            )
        )
        registry.register_settings_link(
            registry.SettingsLink(
                key="two_factor",
                label="Two-factor",
                url_name="signin:two_factor",
                order=10,
                section="profile",
            )
        )
        registry.register_settings_link(
            registry.SettingsLink(
                key="sessions",
                label="Sessions",
                url_name="signin:sessions",
                order=20,
                section="profile",
            )
        )
        # The Django admin's own password form would skip the second step and SSO-only:
        # its login page sends people to ours instead (what allauth documents).
        admin.site.login = receivers.admin_login  # type: ignore[method-assign]
