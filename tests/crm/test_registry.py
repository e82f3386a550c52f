"""The core learns about the features only through crm.registry; it never imports them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from crm import registry
from crm.models import JobRun

ROOT = Path(__file__).resolve().parents[2]
FEATURES = {
    "activities",
    "accounts",
    "leads",
    "pipeline",
    "scoring",
    "forecasting",
    "signin",
    "config",
}


def _imported_packages(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):  # in functions and TYPE_CHECKING too
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_core_imports_no_feature_app_not_even_lazily():
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_packages(path) & FEATURES)
        for path in (ROOT / "crm").rglob("*.py")
        if _imported_packages(path) & FEATURES
    }
    assert offenders == {}


def test_the_features_register_their_records_work_cards_and_seeds():
    assert set(registry.history_scopes()) == {
        "users",
        "teams",
        "leads",
        "opportunities",
        "accounts",
        "contacts",
    }
    assert [kind.key for kind in registry.open_work_kinds()] == [
        "leads",
        "opportunities",
        "contacts",
    ]
    assert [panel.key for panel in registry.dashboard_panels()] == [
        "tasks_due",
        "new_leads",
        "stale_deals",
    ]
    assert [seeder.label for seeder in registry.demo_seeders()] == [
        "leads",
        "leads.routing",
        "pipeline",
        "accounts.contacts",
        "scoring",
        "forecasting",
        "activities.email_templates",
    ]


def test_a_model_without_a_scope_cannot_be_registered_as_a_record():
    with pytest.raises(TypeError, match="visible_to"):
        registry.register_record(JobRun, history_kind="jobs")
    assert "jobs" not in registry.history_scopes()
