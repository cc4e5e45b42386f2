"""Development mode: a node started with no JWT secret or API key makes them up once.

They are kept in ``<data_dir>/dev-secrets.json`` so that restarts and ``realtime token``
agree, printed at start, and flagged with a warning: this is not for production.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from realtime.config import Config

SECRETS_FILE = "dev-secrets.json"


def with_dev_secrets(config: Config) -> Config:
    """Return ``config`` with any missing secret or key filled from (or into) the data dir.

    A config that sets both is returned unchanged, and nothing is written.
    """
    if config.jwt_secret and config.api_key:
        return config
    path = Path(config.data_dir) / SECRETS_FILE
    stored = _read(path)
    if not stored:
        stored = {"jwt_secret": secrets.token_urlsafe(32), "api_key": secrets.token_urlsafe(24)}
        _write(path, stored)
    return config.replace(
        jwt_secret=config.jwt_secret or stored["jwt_secret"],
        api_key=config.api_key or stored["api_key"],
        dev_mode=True,
    )


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if isinstance(data, dict) and all(isinstance(data.get(k), str) for k in ("jwt_secret",
                                                                             "api_key")):
        return {"jwt_secret": data["jwt_secret"], "api_key": data["api_key"]}
    return {}


def _write(path: Path, data: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Readable by the owner only: these sign tokens and open the HTTP API.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
