"""Board, deal pages and pipeline settings (mounted at /pipeline/)."""

from __future__ import annotations

from django.urls import path

from pipeline import contact_role_views, views

app_name = "pipeline"

urlpatterns = [
    path("", views.board_default, name="board_default"),
    path("<int:pk>/board/", views.board, name="board"),
    path("<int:pk>/board/column/<int:stage_id>/", views.column_more, name="column_more"),
    path("<int:pk>/opportunities/new/", views.opportunity_new, name="opportunity_new"),
    path("opportunities/<int:pk>/", views.opportunity_detail, name="opportunity"),
    path("opportunities/<int:pk>/edit/", views.opportunity_edit, name="opportunity_edit"),
    path("opportunities/<int:pk>/move/", views.move_card, name="move_card"),
    path(
        "opportunities/<int:pk>/activities/",
        views.opportunity_activity,
        name="opportunity_activity",
    ),
    path("opportunities/<int:pk>/email/", views.opportunity_email, name="opportunity_email"),
    path("opportunities/<int:pk>/tasks/<int:task_id>/done/", views.task_done, name="task_done"),
    path(
        "opportunities/<int:pk>/contact-roles/",
        contact_role_views.contact_roles,
        name="contact_roles",
    ),
    path(
        "opportunities/<int:pk>/contact-roles/<int:role_id>/",
        contact_role_views.contact_role_edit,
        name="contact_role_edit",
    ),
    path(
        "opportunities/<int:pk>/contact-roles/<int:role_id>/delete/",
        contact_role_views.contact_role_delete,
        name="contact_role_delete",
    ),
    path("lost-reasons/options/", views.lost_reason_options, name="lost_reason_options"),
    path("settings/", views.pipeline_settings, name="settings"),
    path("settings/<int:pk>/", views.pipeline_settings_edit, name="settings_pipeline"),
    path("settings/<int:pk>/stages/", views.stage_add, name="stage_add"),
    path("settings/<int:pk>/stages/order/", views.stages_reorder, name="stages_reorder"),
    path("settings/stages/<int:pk>/", views.stage_edit, name="stage_edit"),
    path("settings/lost-reasons/", views.lost_reasons, name="lost_reasons"),
]
