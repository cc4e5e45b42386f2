"""Settings of a node, read from the environment and overridden by command-line flags.

Every setting has one name in three forms: the field (``api_port``), the environment
variable (``REALTIME_API_PORT``) and the flag (``--api-port``). :data:`SETTINGS` is the
single list of them; ``realtime serve --help`` and ``realtime config`` are built from it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from protocol.limits import Limits

_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Setting:
    """One configurable value."""

    name: str
    kind: type
    default: Any
    help: str
    secret: bool = False

    @property
    def env(self) -> str:
        return "REALTIME_" + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


SETTINGS: tuple[Setting, ...] = (
    Setting("host", str, "",
            "address both ports listen on (unset: 0.0.0.0, or 127.0.0.1 in development mode)"),
    Setting("port", int, 8765, "public WebSocket port"),
    Setting("api_port", int, 8080, "internal HTTP API port"),
    Setting("node_id", str, "", "this node's id (default: a random one per start)"),
    Setting("jwt_secret", str, "", "HS256 secret that client tokens are signed with", True),
    Setting("jwt_jwks_url", str, "",
            "JWKS document of an identity provider: RS256, ES256 and EdDSA tokens are "
            "verified against its keys, chosen by kid"),
    Setting("jwt_issuer", str, "", "required iss of client tokens (unset: not checked)"),
    Setting("jwt_audience", str, "",
            "required aud of client tokens (unset: not checked)"),
    Setting("jwt_leeway", float, 0.0, "seconds of clock skew allowed on exp, nbf and iat"),
    Setting("jwt_firebase_project", str, "",
            "Firebase project id: accept its Firebase Authentication ID tokens (sets the "
            "JWKS URL, issuer and audience that are not set)"),
    Setting("jwt_jwks_max_age", float, 300.0,
            "seconds the provider's keys are used before they are fetched again"),
    Setting("jwt_jwks_min_interval", float, 10.0,
            "fewest seconds between two fetches of the provider's keys (a token with an "
            "unknown kid asks for one)"),
    Setting("api_key", str, "", "key the internal HTTP API requires in X-API-Key", True),
    Setting("cursor_secret", str, "",
            "key that seals the cursors clients hold, the same on every node (unset: "
            "derived from the API key)", True),
    Setting("legacy_cursors", bool, True,
            "accept the plain-number cursors of earlier versions (they let a client that "
            "probes with them learn message counts: turn off once clients have moved on)"),
    Setting("data_dir", str, "./data", "where the embedded database and dev secrets live"),
    Setting("database_url", str, "", "postgresql://... or sqlite:///path (unset: SQLite file)",
            True),
    Setting("redis_url", str, "", "Redis for a cluster (unset: in-process, one node)", True),
    Setting("publish_deadline", float, 1.0,
            "seconds a message's ack waits for Redis to take its publication; past it the "
            "ack goes out and members catch up from the store (0: Redis's own timeouts)"),
    Setting("commit_window", float, 0.010,
            "seconds a message may wait for others to share its PostgreSQL commit, when "
            "commits are frequent (group commit; larger: fewer, bigger commits)"),
    Setting("fcm_credentials", str, "", "FCM service-account JSON file (unset: push off)"),
    Setting("fcm_endpoint", str, "", "base URL of the FCM HTTP v1 API (emulators, tests)"),
    Setting("limit_frame", int, _LIMITS.max_frame, "largest frame accepted, bytes"),
    Setting("limit_body", int, _LIMITS.max_body, "largest message body, UTF-8 bytes"),
    Setting("limit_meta", int, _LIMITS.max_meta, "largest message meta, JSON bytes"),
    Setting("limit_rate", float, _LIMITS.rate, "frames per second per connection"),
    Setting("limit_burst", int, _LIMITS.burst, "frames a connection may send at once"),
    Setting("limit_sessions", int, _LIMITS.max_sessions, "sessions per user on one node"),
    Setting("limit_queue", int, _LIMITS.max_queue, "bytes queued per connection before 1013"),
    Setting("limit_new_dms", int, 30,
            "new direct threads a user may start per minute on one node (past it: "
            "rate_limited)"),
    Setting("limit_connections", int, 20000, "connections per node (past it: HTTP 503)"),
    Setting("limit_handshakes", float, 0.0,
            "WebSocket handshakes per second per client address (0: no limit; past it: 429)"),
    Setting("limit_handshake_burst", int, 20, "handshakes a client address may make at once"),
    Setting("limit_group", int, _LIMITS.max_group,
            "most members of a group (past it: too_large)"),
    Setting("limit_title", int, _LIMITS.max_title,
            "longest group title, characters (past it: too_large)"),
    Setting("limit_groups_per_hour", int, 20,
            "groups one user may create in any hour (0: no limit; past it: rate_limited)"),
    Setting("disconnect_wait", float, 2.0,
            "most seconds a disconnect waits for the nodes holding the user's sessions to "
            "say how many they closed"),
    Setting("allowed_origins", str, "",
            "comma-separated browser origins allowed to connect, https://*.example.com for "
            "subdomains (unset: any; past it: 403)"),
    Setting("trusted_proxies", str, "",
            "comma-separated proxy addresses or networks whose X-Forwarded-For names the "
            "client address"),
    Setting("heartbeat", float, 20.0,
            "a client silent for about this many seconds is pinged (0: off); one that "
            "does not answer within half of it is closed (1013)"),
    Setting("handshake_timeout", float, 10.0,
            "seconds a client has, from connecting, to send its whole handshake request "
            "(also how long an idle HTTP keep-alive connection is kept)"),
    Setting("drain_timeout", float, 10.0,
            "seconds in-flight writes may take, after the drain window, before the node exits"),
    Setting("drain_window", float, 0.0,
            "seconds over which a drain spreads its session closes (0: all at once)"),
    Setting("node_heartbeat", float, 5.0,
            "seconds between two heartbeats of this node in the cluster's directory (the "
            "admin view; a node missing three is gone)"),
    Setting("presence_ttl", float, 20.0,
            "seconds a crashed node's users stay online (presence lease, with Redis)"),
    Setting("log_level", str, "info", "debug, info, warning or error"),
    Setting("log_format", str, "text", "text (for people) or json (one object per line)"),
    Setting("tls_cert", str, "", "PEM certificate chain: serve wss:// on the public port"),
    Setting("tls_key", str, "", "PEM private key of tls_cert"),
    Setting("compression", bool, False, "offer permessage-deflate to clients"),
)

_BY_NAME = {s.name: s for s in SETTINGS}


FIREBASE_JWKS_URL = (
    "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"
)
"""Where Google publishes the keys that sign Firebase Authentication ID tokens."""
FIREBASE_ISSUER = "https://securetoken.google.com/"
"""A Firebase ID token's ``iss`` is this followed by the project id; its ``aud`` is the
project id."""


@dataclass(frozen=True, slots=True)
class IdentityProvider:
    """Whose tokens a node accepts besides those signed with its own secret."""

    jwks_url: str
    issuer: str
    audience: str


@dataclass(frozen=True, slots=True)
class Config:
    """The settings one node runs with. Build it with :meth:`from_env` or :meth:`load`."""

    host: str = ""
    port: int = 8765
    api_port: int = 8080
    node_id: str = ""
    jwt_secret: str = ""
    jwt_jwks_url: str = ""
    jwt_issuer: str = ""
    jwt_audience: str = ""
    jwt_leeway: float = 0.0
    jwt_firebase_project: str = ""
    jwt_jwks_max_age: float = 300.0
    jwt_jwks_min_interval: float = 10.0
    api_key: str = ""
    cursor_secret: str = ""
    legacy_cursors: bool = True
    data_dir: str = "./data"
    database_url: str = ""
    redis_url: str = ""
    publish_deadline: float = 1.0
    commit_window: float = 0.010
    fcm_credentials: str = ""
    fcm_endpoint: str = ""
    limit_frame: int = _LIMITS.max_frame
    limit_body: int = _LIMITS.max_body
    limit_meta: int = _LIMITS.max_meta
    limit_rate: float = _LIMITS.rate
    limit_burst: int = _LIMITS.burst
    limit_sessions: int = _LIMITS.max_sessions
    limit_queue: int = _LIMITS.max_queue
    limit_new_dms: int = 30
    limit_connections: int = 20000
    limit_handshakes: float = 0.0
    limit_handshake_burst: int = 20
    limit_group: int = _LIMITS.max_group
    limit_title: int = _LIMITS.max_title
    limit_groups_per_hour: int = 20
    disconnect_wait: float = 2.0
    allowed_origins: str = ""
    trusted_proxies: str = ""
    heartbeat: float = 20.0
    handshake_timeout: float = 10.0
    drain_timeout: float = 10.0
    drain_window: float = 0.0
    node_heartbeat: float = 5.0
    presence_ttl: float = 20.0
    log_level: str = "info"
    log_format: str = "text"
    tls_cert: str = ""
    tls_key: str = ""
    compression: bool = False
    dev_mode: bool = field(default=False, compare=False)
    """True when neither secret nor key was configured (see ``realtime.devmode``)."""

    @property
    def limits(self) -> Limits:
        return Limits(
            max_frame=self.limit_frame,
            max_body=self.limit_body,
            max_meta=self.limit_meta,
            rate=self.limit_rate,
            burst=self.limit_burst,
            max_sessions=self.limit_sessions,
            max_queue=self.limit_queue,
            max_group=self.limit_group,
            max_title=self.limit_title,
        )

    @property
    def identity_provider(self) -> IdentityProvider:
        """The JWKS URL, issuer and audience tokens are checked against: the settings,
        with what ``jwt_firebase_project`` implies filling those not set."""
        project = self.jwt_firebase_project
        return IdentityProvider(
            jwks_url=self.jwt_jwks_url or (FIREBASE_JWKS_URL if project else ""),
            issuer=self.jwt_issuer or (FIREBASE_ISSUER + project if project else ""),
            audience=self.jwt_audience or project,
        )

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, args: argparse.Namespace | None = None
    ) -> Config:
        """Defaults, overridden by the environment, overridden by flags given explicitly."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = environ.get(setting.env)
            if raw is not None and raw != "":
                values[setting.name] = _parse(setting, raw)
            if args is not None and getattr(args, setting.name, None) is not None:
                values[setting.name] = getattr(args, setting.name)
        return cls(**values)

    def describe(self) -> list[tuple[str, str, str]]:
        """(env name, value, default) per setting, secrets masked: for ``realtime config``."""
        rows = []
        for setting in SETTINGS:
            value = getattr(self, setting.name)
            shown = ("*****" if value else "") if setting.secret else str(value)
            rows.append((setting.env, shown, str(setting.default)))
        return rows


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Add one flag per setting. Flags default to None so that 'not given' is visible."""
    for setting in SETTINGS:
        parser.add_argument(
            setting.flag,
            dest=setting.name,
            type=parse_bool if setting.kind is bool else setting.kind,
            default=None,
            metavar="BOOL" if setting.kind is bool else None,
            help=f"{setting.help} [{setting.env}, default {setting.default!r}]",
        )


def parse_bool(raw: str) -> bool:
    """``true``/``false`` and their usual spellings (``1``, ``yes``, ``on``, ...)."""
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"not a boolean: {raw!r}")


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _parse(setting: Setting, raw: str) -> Any:
    try:
        return parse_bool(raw) if setting.kind is bool else setting.kind(raw)
    except ValueError as exc:
        raise SystemExit(f"{setting.env}: expected {setting.kind.__name__}, got {raw!r}") from exc


def setting(name: str) -> Setting:
    """The :class:`Setting` called ``name``."""
    return _BY_NAME[name]


def settings_markdown() -> str:
    """Every setting as a Markdown table (variable, flag, default, meaning): the one in
    docs/configuration.md, which a test keeps equal to this."""
    lines = [
        "| environment variable | flag | default | meaning |",
        "|---|---|---|---|",
    ]
    for s in SETTINGS:
        default = _shown_default(s)
        secret = " (secret: masked by `realtime config`)" if s.secret else ""
        lines.append(f"| `{s.env}` | `{s.flag}` | {default} | {s.help}{secret} |")
    return "\n".join(lines) + "\n"


def _shown_default(s: Setting) -> str:
    if s.kind is bool:
        return "`true`" if s.default else "`false`"
    return f"`{s.default}`" if s.default != "" else "(unset)"
