"""Encrypt secrets kept in the database (TOTP keys) with a key derived from SECRET_KEY.

Fernet (AES-128-CBC + HMAC) from `cryptography`. SECRET_KEY_FALLBACKS still decrypt, so a
key rotation keeps every enrolment working; a lost SECRET_KEY means everyone enrols again.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

_PREFIX = "f1:"


def _fernet(secret: str) -> Fernet:
    digest = hashlib.sha256(f"plumb.signin.secrets:{secret}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _keys() -> MultiFernet:
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet(secret) for secret in secrets])


def encrypt(text: str) -> str:
    return _PREFIX + _keys().encrypt(text.encode()).decode()


def decrypt(stored: str) -> str:
    """The clear text; values written before encryption existed pass through unchanged."""
    if not stored.startswith(_PREFIX):
        return stored
    try:
        return _keys().decrypt(stored[len(_PREFIX) :].encode()).decode()
    except InvalidToken:
        raise ValueError("This secret was encrypted with another SECRET_KEY.") from None
