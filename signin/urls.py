"""Settings → Two-factor, Sessions, Security, and the password reset pages (namespace signin)."""

from __future__ import annotations

from django.urls import path

from signin import views

app_name = "signin"

urlpatterns = [
    path("login/forgot/", views.PasswordResetView.as_view(), name="password_reset"),
    path("login/forgot/sent/", views.PasswordResetSentView.as_view(), name="password_reset_sent"),
    path(
        "login/reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("settings/two-factor/", views.two_factor_page, name="two_factor"),
    path(
        "settings/two-factor/recovery-codes/",
        views.regenerate_recovery_codes,
        name="regenerate_recovery_codes",
    ),
    path("settings/two-factor/disable/", views.disable_two_factor, name="disable_two_factor"),
    path("settings/sessions/", views.session_list, name="sessions"),
    path("settings/sessions/<int:pk>/end/", views.end_session, name="end_session"),
    path("settings/sessions/end-others/", views.end_other_sessions, name="end_other_sessions"),
    path("settings/security/", views.security, name="security"),
    path("settings/security/providers/new/", views.provider_edit, name="provider_new"),
    path("settings/security/providers/<int:pk>/", views.provider_edit, name="provider_edit"),
    path(
        "settings/security/providers/<int:pk>/delete/",
        views.provider_delete,
        name="provider_delete",
    ),
    path(
        "settings/security/users/<int:pk>/reset-two-factor/",
        views.reset_two_factor,
        name="reset_two_factor",
    ),
]
