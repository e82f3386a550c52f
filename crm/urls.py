"""The core's pages: dashboard, notifications and the settings index."""

from __future__ import annotations

from django.urls import path

from crm.views import core as views

app_name = "crm"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/bell/", views.notification_bell, name="notification_bell"),
    path("notifications/read/", views.mark_notifications_read, name="mark_notifications_read"),
    path("settings/", views.settings_index, name="settings"),
]
