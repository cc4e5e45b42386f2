"""The settings of one load-test run, and the command line that sets them."""

from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

from realtime.devmode import read as read_dev_secrets
from realtime.devmode import secrets_path

__all__ = ["BARE_TARGETS", "SCENARIO_NAMES", "TARGETS", "Options", "add_arguments", "from_args"]

SCENARIO_NAMES = ("dm", "fanout", "typing", "likes", "idle", "reconnect", "reactions")
RELAY_SCENARIOS = ("dm", "fanout", "idle")
TARGETS = ("node", "relay", "socketio")
BARE_TARGETS = ("relay", "socketio")
"""Targets that only route ``{to|group, body}`` to sockets: no auth, storage or acks."""


@dataclass(frozen=True, kw_only=True)
class Options:
    """One run. ``connections`` means pairs for ``dm`` and ``typing``, members for
    ``fanout`` and ``reactions``, viewers for ``likes``, clients for ``idle`` and
    ``reconnect``. ``rate`` is the offered rate over the whole generator: messages/s
    (``dm``, ``fanout``, ``reconnect``), frames/s (``typing``), likes/s (``likes``),
    reactions/s (``reactions``)."""

    scenario: str
    urls: tuple[str, ...] = ("ws://127.0.0.1:8765/ws",)
    api_urls: tuple[str, ...] = ()
    api_key: str | None = None
    secret: str | None = None
    token_cmd: str | None = None
    target: str = "node"
    client: str = "aiohttp"
    connections: int = 100
    rate: float = 1000.0
    duration: float = 10.0
    workers: int = 1
    body_size: int = 64
    likers: int = 100
    senders: int = 50
    edits: bool = False
    """reactions: members edit their own messages instead of reacting."""
    drop_at: float = 0.4
    drain: float = 10.0
    connect_concurrency: int = 256
    json_path: str | None = None
    plot_path: str | None = None
    step_from: float | None = None
    step_to: float | None = None
    step_factor: float = 1.5
    p99_max: float = 50.0
    live: bool = True
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))

    @property
    def bare(self) -> bool:
        """Whether the target only routes (the relay, Socket.IO): users are named in the
        handshake's query, nothing is acked."""
        return self.target in BARE_TARGETS

    def replace(self, **changes: Any) -> Options:
        return dataclasses.replace(self, **changes)

    def check(self) -> None:
        """Raise :class:`ValueError` naming the first setting that cannot work."""
        if self.scenario not in SCENARIO_NAMES:
            raise ValueError(f"unknown scenario {self.scenario!r}")
        if self.target not in TARGETS:
            raise ValueError(f"unknown target {self.target!r}")
        if self.bare and self.scenario not in RELAY_SCENARIOS:
            raise ValueError(f"the {self.target} only runs {', '.join(RELAY_SCENARIOS)}")
        if self.target == "node" and not (self.secret or self.token_cmd):
            raise ValueError("a node needs tokens: --secret, REALTIME_JWT_SECRET, --token-cmd, "
                             "or --data-dir of a node in development mode")
        if self.scenario in ("fanout", "reactions") and self.target == "node" and not (
            self.api_urls and self.api_key
        ):
            raise ValueError(f"{self.scenario} creates its group over the HTTP API: --api-url,"
                             " --api-key")
        if self.connections < 1 or self.workers < 1 or self.duration <= 0 or self.rate < 0:
            raise ValueError("connections, workers, duration must be positive")
        if self.body_size < 40:
            raise ValueError("--body-size must be at least 40 bytes (it carries a timestamp)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every flag of a run."""
    parser.add_argument("scenario", choices=SCENARIO_NAMES, help="the traffic to offer")
    parser.add_argument("--url", dest="urls", action="append",
                        help="WebSocket URL of a node; repeat for a cluster "
                             "(default ws://127.0.0.1:8765/ws)")
    parser.add_argument("--api-url", dest="api_urls", action="append",
                        help="HTTP API URL of a node (for /metrics and set-up); repeatable")
    parser.add_argument("--api-key", default=os.environ.get("REALTIME_API_KEY"),
                        help="X-API-Key of the HTTP API [REALTIME_API_KEY]")
    parser.add_argument("--secret", default=os.environ.get("REALTIME_JWT_SECRET"),
                        help="JWT secret to mint tokens with [REALTIME_JWT_SECRET]")
    parser.add_argument("--data-dir", default=os.environ.get("REALTIME_DATA_DIR", "./data"),
                        help="data dir of a node in development mode: with no --secret, "
                             "--api-key or --token-cmd, its secrets are read from there "
                             "[REALTIME_DATA_DIR, default ./data]")
    parser.add_argument("--token-cmd",
                        help="command printing a token, run per user with {user} replaced")
    parser.add_argument("--target", choices=TARGETS, default="node",
                        help="what --url points at: a node, the baseline relay, or the "
                             "Socket.IO baseline (--url ws://HOST:PORT/socket.io/)")
    parser.add_argument("--client", choices=("aiohttp", "websockets"), default="aiohttp",
                        help="the generator's WebSocket client")
    parser.add_argument("--connections", type=int, default=100,
                        help="pairs (dm, typing), members (fanout, reactions), viewers "
                             "(likes), clients (idle, reconnect)")
    parser.add_argument("--rate", type=float, default=1000.0, help="offered rate per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load")
    parser.add_argument("--workers", type=int, default=1, help="generator processes")
    parser.add_argument("--body-size", type=int, default=64, help="bytes of each message body")
    parser.add_argument("--likers", type=int, default=100, help="likes: connections that like")
    parser.add_argument("--senders", type=int, default=50, help="reconnect: sending clients")
    parser.add_argument("--edits", action="store_true",
                        help="reactions: members edit their own messages instead of reacting")
    parser.add_argument("--drop-at", type=float, default=0.4,
                        help="reconnect: fraction of --duration at which every client drops")
    parser.add_argument("--drain", type=float, default=10.0,
                        help="seconds to wait for the last deliveries after the load")
    parser.add_argument("--json", dest="json_path", help="write the report as JSON here")
    parser.add_argument("--plot", dest="plot_path", help="write PNG plots here")
    parser.add_argument("--step-from", type=float, help="rate stepping: first offered rate")
    parser.add_argument("--step-to", type=float, help="rate stepping: highest offered rate")
    parser.add_argument("--step-factor", type=float, default=1.5,
                        help="rate stepping: each step's rate over the previous one's")
    parser.add_argument("--p99-max", type=float, default=50.0,
                        help="rate stepping: highest acceptable p99, ms")
    parser.add_argument("--no-live", dest="live", action="store_false",
                        help="no live progress display")


def from_args(args: argparse.Namespace) -> Options:
    """The :class:`Options` that parsed flags describe."""
    secret, api_key = args.secret, args.api_key
    if args.target == "node" and not (secret or api_key or args.token_cmd):
        # A node in development mode, as `realtime serve` with no secrets runs it.
        stored = read_dev_secrets(secrets_path(args.data_dir))
        if stored is not None:
            secret, api_key = stored.jwt_secret, stored.api_key
    return Options(
        scenario=args.scenario,
        urls=tuple(args.urls or ("ws://127.0.0.1:8765/ws",)),
        api_urls=tuple(args.api_urls or ()),
        api_key=api_key,
        secret=secret,
        token_cmd=args.token_cmd,
        target=args.target,
        client=args.client,
        connections=args.connections,
        rate=args.rate,
        duration=args.duration,
        workers=args.workers,
        body_size=args.body_size,
        likers=args.likers,
        senders=args.senders,
        edits=args.edits,
        drop_at=args.drop_at,
        drain=args.drain,
        json_path=args.json_path,
        plot_path=args.plot_path,
        step_from=args.step_from,
        step_to=args.step_to,
        step_factor=args.step_factor,
        p99_max=args.p99_max,
        live=args.live,
    )
