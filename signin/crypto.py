"""Encrypt TOTP keys kept in the database (crm.crypto, with sign-in's own purpose)."""

from __future__ import annotations

from crm import crypto

_PURPOSE = "plumb.signin.secrets"


def encrypt(text: str) -> str:
    return crypto.encrypt(text, purpose=_PURPOSE)


def decrypt(stored: str) -> str:
    """The clear text; values written before encryption existed pass through unchanged."""
    return crypto.decrypt(stored, purpose=_PURPOSE)
