"""Sign-in tests use the test OpenID Connect provider (tests/oidc_provider/fixtures.py)."""

from __future__ import annotations
