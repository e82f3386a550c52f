from __future__ import annotations

from django.urls import path

from crm.views_placeholder import placeholder

app_name = "pipeline"

urlpatterns = [
    path("", placeholder("Board"), name="board_default"),
]
