"""Static files for production: every reference inside a vendored asset resolves (or the
manifest storage refuses the build), and hashed files are cached for a year."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config.env import admins
from config.static import ONE_YEAR, StaticFilesMiddleware

VENDOR = Path(__file__).resolve().parents[2] / "static" / "vendor"


@pytest.mark.parametrize(
    "asset", sorted(p.relative_to(VENDOR).as_posix() for p in VENDOR.glob("*/*.[jc]s*"))
)
def test_every_source_map_a_vendored_asset_names_is_there(asset):
    path = VENDOR / asset
    if path.suffix == ".map":
        return
    names = re.findall(r"sourceMappingURL=([^\s*]+)", path.read_text(errors="replace"))
    for name in names:
        assert (path.parent / name).is_file(), f"{asset} names {name}: run make vendor"


def test_hashed_static_files_are_cached_for_one_year_as_immutable():
    assert ONE_YEAR == 31_536_000
    assert StaticFilesMiddleware.FOREVER == ONE_YEAR


def test_admins_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ADMINS", "Ann Smith <ann@example.com>, bob@example.com")
    assert admins() == [("Ann Smith", "ann@example.com"), ("bob@example.com", "bob@example.com")]
    monkeypatch.setenv("ADMINS", "")
    assert admins() == []
