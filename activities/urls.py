"""activities pages (mounted at /settings/email-templates/)."""

from __future__ import annotations

from django.urls import path

from activities import views

app_name = "activities"

urlpatterns = [
    path("", views.email_templates, name="email_templates"),
    path("<int:pk>/", views.email_template_edit, name="email_template_edit"),
    path("<int:pk>/delete/", views.email_template_delete, name="email_template_delete"),
]
