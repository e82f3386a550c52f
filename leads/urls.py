from __future__ import annotations

from django.urls import path

from leads import views

app_name = "leads"

urlpatterns = [
    path("", views.lead_list, name="list"),
    path("export.csv", views.export_csv, name="export"),
    path("bulk/", views.bulk_action, name="bulk"),
    path("import/", views.import_upload, name="import"),
    path("import/<int:pk>/map/", views.import_map, name="import_map"),
    path("import/<int:pk>/run/", views.import_run, name="import_run"),
    path("import/<int:pk>/", views.import_report, name="import_report"),
    path("import/<int:pk>/failed.csv", views.import_failed_csv, name="import_failed_csv"),
    path("<int:pk>/", views.lead_detail, name="detail"),
    path("<int:pk>/transition/", views.transition, name="transition"),
    path("<int:pk>/convert/", views.convert, name="convert"),
    path("<int:pk>/bant/", views.record_bant, name="bant"),
    path("<int:pk>/activities/", views.add_activity, name="add_activity"),
    path("<int:pk>/email/", views.compose_email, name="email"),
    path("<int:pk>/edit/", views.edit_lead, name="edit"),
    path("<int:pk>/assign/", views.assign, name="assign"),
]
