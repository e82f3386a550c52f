"""Codes computed the way an authenticator app does (RFC 6238, our own few lines), and the
sign-in steps as a browser takes them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time
from urllib.parse import urlsplit

import requests
from django.urls import reverse


def totp(secret: str, *, at: float | None = None, step_offset: int = 0) -> str:
    key = base64.b32decode(secret.replace(" ", "").upper())
    counter = int(time.time() if at is None else at) // 30 + step_offset
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def password_step(client, username, password="pw", ip="10.1.1.1"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def code_step(client, code, ip="10.1.1.1"):
    return client.post(reverse("mfa_authenticate"), {"code": code}, REMOTE_ADDR=ip)


def enrol(client, user):
    """Enrol `user` (signed in on `client`) through the page; returns (secret, codes)."""
    page = client.get(reverse("signin:two_factor"))
    secret = page.context["enrolment"].secret
    done = client.post(reverse("signin:two_factor"), {"code": totp(secret)})
    assert done.status_code == 200, done.content.decode()[:500]
    return secret, done.context["codes"]


def sso(client, *, provider_id="test"):
    """Start at our button, let the provider answer (real HTTP), come back to our callback."""
    start = client.post(reverse("openid_connect_login", args=[provider_id]))
    if start.status_code != 302 or start["Location"].startswith("/"):
        return start
    answer = requests.get(start["Location"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text[:500]
    back = urlsplit(answer.headers["Location"])
    return client.get(f"{back.path}?{back.query}")
