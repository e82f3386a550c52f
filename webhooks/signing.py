"""The signature receivers check: `Plumb-Signature: v1=<hex>` where hex is the HMAC-SHA256,
keyed with the subscription's secret, of "{Plumb-Timestamp}.{raw body}". During the 24 hours
after a rotation both secrets sign: `v1=<new>,v1=<old>`. README "Webhooks" has a receiver's
verification recipe; `verify` below is the same recipe (the tests check deliveries with it).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

SCHEME = "v1"
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def headers(
    *, event_id: str, secrets: Sequence[str], body: bytes, timestamp: int
) -> dict[str, str]:
    """The Plumb-* headers of one POST (one signature per valid secret, newest first)."""
    stamp = str(timestamp)
    return {
        "Plumb-Event-Id": event_id,
        "Plumb-Timestamp": stamp,
        "Plumb-Signature": ",".join(f"{SCHEME}={signature(s, stamp, body)}" for s in secrets),
    }


def verify(
    *,
    secret: str,
    body: bytes,
    timestamp: str,
    header: str,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """Whether one of the header's v1 signatures is `secret`'s, with a fresh timestamp."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    if age > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    candidates = [part.strip() for part in header.split(",")]
    return any(
        hmac.compare_digest(value, expected)
        for scheme, _, value in (c.partition("=") for c in candidates)
        if scheme == SCHEME
    )
