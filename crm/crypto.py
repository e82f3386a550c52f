"""Encrypt secrets kept in the database with a key derived from SECRET_KEY.

Fernet (AES-128-CBC + HMAC) from `cryptography`. Each use names its `purpose` (TOTP keys,
webhook signing secrets), so one kind of secret never decrypts as another. SECRET_KEY_FALLBACKS
still decrypt, so a key rotation keeps every stored secret working; a lost SECRET_KEY loses
them (people enrol again, webhook secrets are rotated).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

_PREFIX = "f1:"


def _fernet(secret: str, purpose: str) -> Fernet:
    digest = hashlib.sha256(f"{purpose}:{secret}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _keys(purpose: str) -> MultiFernet:
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet(secret, purpose) for secret in secrets])


def encrypt(text: str, *, purpose: str) -> str:
    return _PREFIX + _keys(purpose).encrypt(text.encode()).decode()


def decrypt(stored: str, *, purpose: str) -> str:
    """The clear text; values written before encryption existed pass through unchanged."""
    if not stored.startswith(_PREFIX):
        return stored
    try:
        return _keys(purpose).decrypt(stored[len(_PREFIX) :].encode()).decode()
    except InvalidToken:
        raise ValueError("This secret was encrypted with another SECRET_KEY.") from None
