from __future__ import annotations

from django.urls import path

from scoring import views

app_name = "scoring"

urlpatterns = [
    path("", views.scoring_settings, name="settings"),
    path("rules/new/", views.add_rule, name="add_rule"),
    path("rules/<int:pk>/", views.rule_row, name="rule_row"),
    path("rules/<int:pk>/edit/", views.edit_rule, name="edit_rule"),
    path("rules/<int:pk>/toggle/", views.toggle_rule, name="toggle_rule"),
    path("rules/<int:pk>/delete/", views.delete_rule, name="delete_rule"),
    path("preview/", views.preview, name="preview"),
    path("settings/", views.save_settings, name="save_settings"),
    path("progress/", views.progress, name="progress"),
    path("backtest/", views.backtest, name="backtest"),
    path("changes/", views.changes, name="changes"),
]
