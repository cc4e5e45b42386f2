"""Development mode: a node started with neither a JWT secret nor an API key.

Such a node makes both up once and keeps them in ``<data_dir>/dev-secrets.json``, so that
restarts, ``realtime token``, ``realtime dev-key`` and the load harness agree; it listens
on 127.0.0.1 unless a host is given explicitly, and it serves the demo page and its token
endpoint. One of the two without the other is a half-configured production node: it is
refused, never turned into development mode, since development mode hands tokens to anyone.

Only :func:`for_serving` ever writes the file; everything else reads it and fails with one
line saying where it looked when it is not there.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from realtime.config import Config

SECRETS_FILE = "dev-secrets.json"
DEV_HOST = "127.0.0.1"
"""Where a development node listens unless told otherwise: this machine only."""
PRODUCTION_HOST = "0.0.0.0"


class DevModeError(Exception):
    """A one-line, user-facing reason why the secrets to use cannot be settled."""


@dataclass(frozen=True, slots=True)
class DevSecrets:
    jwt_secret: str
    api_key: str


def secrets_path(data_dir: str | Path) -> Path:
    """Where the development secrets of ``data_dir`` are kept."""
    return Path(data_dir) / SECRETS_FILE


def has_identity(config: Config) -> bool:
    """Whether client tokens are configured: a secret, or an identity provider's keys
    (which stand for the secret: none is made up beside them)."""
    return bool(config.jwt_secret or config.identity_provider.jwks_url)


def check_configured(config: Config) -> None:
    """Refuse a config that sets the secret (or a provider) or the key but not both: the
    error names the one missing."""
    if has_identity(config) == bool(config.api_key):
        return
    missing, present = (("REALTIME_API_KEY", "REALTIME_JWT_SECRET") if has_identity(config)
                        else ("REALTIME_JWT_SECRET", "REALTIME_API_KEY"))
    raise DevModeError(f"{present} is set but {missing} is not: set both (production), "
                       "or neither (development mode)")


def for_serving(config: Config) -> Config:
    """The config a node serves with.

    Both secret and key set: ``config`` as it is, listening on all interfaces unless a
    host is given. Neither: development mode, with the data dir's secrets (made up and
    kept there the first time) and 127.0.0.1 unless a host is given. One of them:
    :class:`DevModeError`.
    """
    check_configured(config)
    if has_identity(config):
        return config.replace(host=config.host or PRODUCTION_HOST)
    path = secrets_path(config.data_dir)
    stored = read(path)
    if stored is None:
        stored = DevSecrets(secrets.token_urlsafe(32), secrets.token_urlsafe(24))
        _write(path, stored)
    return config.replace(jwt_secret=stored.jwt_secret, api_key=stored.api_key,
                          host=config.host or DEV_HOST, dev_mode=True)


def stored_for(config: Config, command: str) -> DevSecrets:
    """The development secrets a node serving ``config`` uses; never makes new ones.

    ``command`` names the asker in the error, which says where it looked and what to do.
    """
    path = secrets_path(config.data_dir)
    stored = read(path)
    if stored is None:
        raise DevModeError(
            f"{command}: no development secrets in {path}: start the node first "
            f"(realtime serve --data-dir {config.data_dir}), or pass the data dir it uses "
            "(--data-dir, REALTIME_DATA_DIR)")
    return stored


def read(path: Path) -> DevSecrets | None:
    """The secrets kept at ``path``, or None when there are none (or the file is not ours)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and all(isinstance(data.get(k), str) and data[k]
                                      for k in ("jwt_secret", "api_key")):
        return DevSecrets(data["jwt_secret"], data["api_key"])
    return None


def _write(path: Path, stored: DevSecrets) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Readable by the owner only: these sign tokens and open the HTTP API.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"jwt_secret": stored.jwt_secret, "api_key": stored.api_key}, f)
