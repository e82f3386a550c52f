"""The test provider's control file: the identity it vouches for and how it misbehaves."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

DEFAULT = {
    "mode": "",
    "sub": "idp-user-1",
    "email": "rep_alice@example.com",
    "email_verified": True,
    "name": "Alice Rep",
}


def path() -> Path:
    return Path(os.environ["OIDC_PROVIDER_DIR"]) / "control.json"


def read() -> dict[str, Any]:
    try:
        return {**DEFAULT, **json.loads(path().read_text())}
    except (OSError, ValueError):
        return dict(DEFAULT)


def write(directory: Path, **values: Any) -> None:
    (directory / "control.json").write_text(json.dumps({**DEFAULT, **values}))
