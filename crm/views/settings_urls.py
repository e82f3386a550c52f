"""Settings pages that live in crm (tokens, e-mail, users, teams, profile, audit). Apps add
their own."""

from __future__ import annotations

from django.urls import path

from crm.views import admin as views_admin
from crm.views import email as views_email
from crm.views import tokens as views_tokens

app_name = "settings"

urlpatterns = [
    path("settings/tokens/", views_tokens.token_list, name="tokens"),
    path("settings/tokens/<int:pk>/revoke/", views_tokens.revoke_token, name="revoke_token"),
    # E-mail that did not go out (admins): the relay's reasons, Resend
    path("settings/email/", views_email.email_failures, name="email"),
    path("settings/email/<int:pk>/resend/", views_email.resend_email, name="resend_email"),
    # Users and teams (admins; managers within their subtree)
    path("settings/users/", views_admin.user_list, name="users"),
    path("settings/users/new/", views_admin.user_create, name="user_new"),
    path("settings/users/<int:pk>/", views_admin.user_edit, name="user_edit"),
    path("settings/users/<int:pk>/move/", views_admin.user_move, name="user_move"),
    path(
        "settings/users/<int:pk>/deactivate/", views_admin.user_deactivate, name="user_deactivate"
    ),
    path(
        "settings/users/<int:pk>/reactivate/", views_admin.user_reactivate, name="user_reactivate"
    ),
    path("settings/users/<int:pk>/unlock/", views_admin.user_unlock, name="user_unlock"),
    path("settings/users/<int:pk>/reassign/", views_admin.user_reassign, name="user_reassign"),
    path("settings/teams/", views_admin.team_list, name="teams"),
    path("settings/teams/<int:pk>/", views_admin.team_edit, name="team_edit"),
    # Everyone: own profile and password; invited users set their first password
    path("settings/profile/", views_admin.profile, name="profile"),
    path("settings/password/", views_admin.password_change, name="password"),
    path(
        "settings/invite/<uidb64>/<token>/",
        views_admin.AcceptInviteView.as_view(),
        name="accept_invite",
    ),
    # Audit trail: the admin page, its export, and each record's History tab (a fragment)
    path("settings/audit/", views_admin.audit_log, name="audit"),
    path("settings/audit/export/", views_admin.audit_export, name="audit_export"),
    *[
        path(
            f"settings/history/{kind}/<int:pk>/",
            views_admin.history,
            {"kind": kind},
            name=f"history_{kind}",
        )
        for kind in views_admin.history_kinds()
    ],
]
