"""Contact pages (mounted at /contacts/). Contacts live in the accounts app (one scope)."""

from __future__ import annotations

from django.urls import path

from accounts import contact_views as views

app_name = "contacts"

urlpatterns = [
    path("", views.contact_list, name="list"),
    path("export.csv", views.contact_export, name="export"),
    path("new/", views.contact_new, name="new"),
    path("<int:pk>/", views.contact_detail, name="detail"),
    path("<int:pk>/edit/", views.contact_edit, name="edit"),
    path("<int:pk>/activities/", views.contact_activity, name="add_activity"),
    path("<int:pk>/tasks/<int:task_id>/done/", views.task_done, name="task_done"),
]
