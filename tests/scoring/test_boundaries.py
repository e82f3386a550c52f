"""Scoring reports threshold crossings and asks leads for new leads; it never imports the
lead services (DESIGN.md: only leads changes a lead's lifecycle or creates leads)."""

from __future__ import annotations

import ast
from pathlib import Path

import scoring

SCORING = Path(scoring.__file__).parent


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_scoring_module_imports_the_lead_services():
    offenders = {
        str(path.relative_to(SCORING)): sorted(
            name
            for name in _imports(path)
            if name.startswith("leads.")
            and name != "leads.models"
            and not name.startswith("leads.models.")
        )
        for path in SCORING.rglob("*.py")
        if "migrations" not in path.parts
    }
    assert {path: names for path, names in offenders.items() if names} == {}
