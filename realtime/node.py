"""The `Node`: builds every part of a server from a :class:`~realtime.config.Config`,
owns them, and starts, drains and closes them in order.

This is one of the two modules (with ``cli``) that name concrete backends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

from aiohttp import web

from protocol.codec import codec_for
from protocol.cursor import Cursor
from protocol.errors import CloseCode
from realtime import logs
from realtime.admission import Admission
from realtime.auth import Identity, TokenVerifier, mint_token
from realtime.backends import make_broker, make_directory, make_presence, make_store
from realtime.broker.base import Broker, BrokerUnavailable
from realtime.broker.channels import THREADS_CHANNEL
from realtime.broker.memory import MemoryBroker
from realtime.config import Config
from realtime.cursor_seal import CursorSeal
from realtime.directory.base import DirectoryUnavailable, SessionRecord
from realtime.directory.heartbeat import Heartbeat, NodeState
from realtime.http_api import make_api_app
from realtime.http_errors import JsonErrorsRunner
from realtime.hub import Hub
from realtime.jwks import JwksKeys
from realtime.masking import guard
from realtime.push_setup import Push
from realtime.recent_errors import RecentErrors
from realtime.server import make_public_app
from realtime.services import Services
from realtime.services.groups import GroupService
from realtime.services.likes import LikesService
from realtime.services.messaging import MessagingService, now_ms
from realtime.services.moderation import ModerationService
from realtime.services.presence import PresenceService
from realtime.services.publisher import Publisher
from realtime.services.thread_cache import ThreadCache
from realtime.services.typing import TypingService
from realtime.session import Session
from realtime.startup import listen_failure
from realtime.store.base import Store, StoreUnavailable
from realtime.timed_broker import TimedBroker
from realtime.watermark import Watermark

log = logging.getLogger(__name__)

EXPIRY_SWEEP = 5.0
"""Seconds between checks for expired tokens: sessions close within this after ``exp``."""


def make_admission(config: Config) -> Admission:
    """The handshake checks ``config`` asks for (see ``realtime.admission``)."""
    try:
        return Admission(rate=config.limit_handshakes, burst=config.limit_handshake_burst,
                         allowed_origins=config.allowed_origins,
                         trusted_proxies=config.trusted_proxies)
    except ValueError as exc:
        raise SystemExit(f"admission settings: {exc}") from exc


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one (tests)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class Node:
    """One server node. ``await start()``, then ``await drain()`` or ``await close()``."""

    def __init__(self, config: Config, *, store: Store | None = None,
                 broker: Broker | None = None) -> None:
        self.config = config
        self.id = config.node_id or "node-" + secrets.token_hex(4)
        logs.bind_node(self.id)
        self.store = store if store is not None else make_store(config)
        self.broker = broker if broker is not None else make_broker(config)
        provider = config.identity_provider
        self.jwks = (JwksKeys(provider.jwks_url, max_age=config.jwt_jwks_max_age,
                              min_interval=config.jwt_jwks_min_interval)
                     if provider.jwks_url else None)
        self.cursors = CursorSeal(config.cursor_secret or config.api_key,
                                  legacy=config.legacy_cursors)
        self.verifier = TokenVerifier(config.jwt_secret, leeway=config.jwt_leeway,
                                      issuer=provider.issuer, audience=provider.audience,
                                      keys=self.jwks)
        self.admission = make_admission(config)
        self.presence = make_presence(config)
        publisher = Publisher(TimedBroker(self.broker))
        threads = ThreadCache(self.store, trusted=self._broker_connected)
        typing = TypingService(threads, publisher)
        self.push = Push(config, self.store, self.presence) if config.fcm_credentials else None
        self.push_worker = self.push.worker if self.push is not None else None
        push_service = self.push.service if self.push is not None else None
        messaging = MessagingService(self.store, publisher,
                                     new_dms_per_minute=config.limit_new_dms,
                                     threads=threads, push=push_service, after_send=typing)
        moderation = ModerationService(publisher, node_id=self.id, nodes_of=self._nodes_of,
                                       listen=self._listen, wait=config.disconnect_wait)
        self.hub = Hub(self.broker, on_reset=self._broker_reset,
                       on_thread_changed=self._thread_changed,
                       on_disconnect=moderation.closed_here)
        self.services = Services(
            publisher=publisher,
            messaging=messaging,
            typing=typing,
            likes=LikesService(self.store, publisher, wall_clock=now_ms, push=push_service),
            presence=PresenceService(self.presence, self.store, publisher, now_ms),
            groups=GroupService(messaging, publisher, max_group=config.limit_group,
                                groups_per_hour=config.limit_groups_per_hour),
            moderation=moderation,
        )
        self.messaging = messaging
        # One node with the in-process broker delivers in commit order; anything else may
        # reorder publications, and cursors then wait for positions to settle.
        self.watermark = Watermark(self.store, ordered=isinstance(self.broker, MemoryBroker))
        self.draining = False
        self.heartbeat = Heartbeat(make_directory(config), self.id,
                                   interval=config.node_heartbeat, state=self._state)
        self.recent_errors = RecentErrors(logs.Scrubber([config.jwt_secret, config.api_key]))
        self._session_records: dict[str, dict[str, SessionRecord]] = {}
        """Open sessions of this node by user, then session id: the admin view's truth."""
        self.limits = config.limits
        """One for every session (built once: a property of the config makes a new one)."""
        self._sessions: set[Session] = set()
        self._per_user: Counter[str] = Counter()
        self._handlers: set[asyncio.Task[object]] = set()
        self._runners: list[JsonErrorsRunner] = []
        self._sockets: list[socket.socket] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, connect the broker, and listen on both ports."""
        tls = self._tls_context()
        await self.store.open()
        if self.jwks is not None:
            await self.jwks.start()
        await self.broker.start(self.hub)
        await self.broker.subscribe(THREADS_CHANNEL)
        # The answers addressed to this node (a disconnect's counts).
        await self.services.moderation.start()
        await self.presence.start()
        await self.services.publisher.start()
        await self.services.likes.start()
        if self.push is not None:
            await self.push.start()
        self.recent_errors.attach()
        await self.heartbeat.start()
        public = make_public_app(self)
        api = make_api_app(self)
        # TLS, when configured, is for clients: the internal API stays plain HTTP on its
        # own port, behind the network boundary.
        # aiohttp arms its keep-alive timer when a connection opens and closes the
        # connection if no complete request has arrived when it fires: on the public port
        # that timer is the handshake timeout, cutting off clients that connect and never
        # finish their request headers (slowloris). A handshake in progress, and the
        # WebSocket after it, are not affected.
        public_timeouts: dict[str, Any] = (
            {"keepalive_timeout": self.config.handshake_timeout}
            if self.config.handshake_timeout > 0 else {}
        )
        no_timeouts: dict[str, Any] = {}
        for app, port, context, timeouts in ((public, self.config.port, tls, public_timeouts),
                                             (api, self.config.api_port, None, no_timeouts)):
            # No access log: a handshake URL may carry a token.
            runner = JsonErrorsRunner(app, handle_signals=False, access_log=None,
                                   shutdown_timeout=1.0, **timeouts)
            await runner.setup()
            try:
                sock = bind(self.config.host, port)
            except OSError as exc:
                setting = "REALTIME_PORT" if app is public else "REALTIME_API_PORT"
                raise listen_failure(self.config.host, port, setting, exc) from exc
            await web.SockSite(runner, sock, ssl_context=context).start()
            self._runners.append(runner)
            self._sockets.append(sock)
        self._tasks.append(asyncio.create_task(self._sweep_expired(), name="expiry-sweep"))
        if self.config.heartbeat > 0:
            self._tasks.append(asyncio.create_task(self._keep_alive(), name="keepalive"))
        if not self.watermark.ordered:
            self._tasks.append(asyncio.create_task(self.watermark.run(), name="watermark"))
        self._tasks.append(asyncio.create_task(self.services.typing.run_expiry(),
                                               name="typing-expiry"))
        log.info("node %s listening: ws %s, api %s", self.id, self.ws_url, self.api_url)

    async def drain(self, code: int = CloseCode.SERVICE_RESTART) -> None:
        """Take the node out of service, then close it. Call it on SIGTERM.

        At once, readiness turns false and new handshakes are refused with 503. The open
        sessions are then closed with ``code``, each after its queued frames, spread
        evenly over ``drain_window`` seconds; clients reconnect elsewhere and sync from
        their cursor. Sends already handed to the store finish (waited for up to
        ``drain_timeout`` seconds after the last close), then :meth:`close` runs.
        A second call returns at once.
        """
        if self.draining:
            return
        self.draining = True
        log.info("draining %d sessions over %.1f s", len(self._sessions),
                 self.config.drain_window)
        await self._close_sessions_over(self.config.drain_window, code)
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=self.config.drain_timeout)
        await self.close()

    async def _close_sessions_over(self, window: float, code: int) -> None:
        # Spread out so that a big node's clients do not all reconnect to the other
        # nodes in the same instant. Sessions that open meanwhile are refused at
        # the handshake or closed by serve_session, so the list taken now is complete.
        sessions = list(self._sessions)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for i, session in enumerate(sessions):
            delay = started + window * i / len(sessions) - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            session.close(code, "node restarting, reconnect", flush=True)

    async def close(self) -> None:
        """Close everything at once (sessions with 1001). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.draining = True
        for session in list(self._sessions):
            session.close(CloseCode.GOING_AWAY, "node shutting down")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5.0)
        await self.heartbeat.close()
        self.recent_errors.detach()
        # Listeners go first so nothing new arrives; the store goes last so every
        # accepted send is committed before the process ends.
        for runner in self._runners:
            await runner.cleanup()
        await self.services.likes.close()
        await self.services.moderation.close()
        await self.services.publisher.close()
        if self.push is not None:
            await self.push.close()
        await self.presence.close()
        await self.broker.close()
        await self.store.close()
        if self.jwks is not None:
            await self.jwks.close()

    # -- addresses (the bound ports, also when configured as 0) ------------------------

    @property
    def port(self) -> int:
        return self._sockets[0].getsockname()[1]

    @property
    def api_port(self) -> int:
        return self._sockets[1].getsockname()[1]

    @property
    def ws_url(self) -> str:
        scheme = "wss" if self.config.tls_cert else "ws"
        return f"{scheme}://{self._client_host()}:{self.port}/ws"

    @property
    def api_url(self) -> str:
        return f"http://{self._client_host()}:{self.api_port}"

    def _client_host(self) -> str:
        host = self.config.host
        return "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)

    def _tls_context(self) -> ssl.SSLContext | None:
        """The server context for the public port, when a certificate is configured."""
        if not self.config.tls_cert:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.config.tls_cert, self.config.tls_key or None)
        return context

    def token(self, user: str, ttl: int = 3600) -> str:
        """A client token for ``user`` signed with this node's secret."""
        return mint_token(self.config.jwt_secret, user, ttl=ttl)

    # -- sessions --------------------------------------------------------------------

    @property
    def connection_count(self) -> int:
        return sum(self._per_user.values())

    @property
    def users_here(self) -> int:
        """Distinct users with a session on this node (for metrics)."""
        return self.hub.users()

    @property
    def publish_failures(self) -> int:
        """Publications the broker refused since start (for metrics)."""
        return self.services.publisher.failures

    def session_count(self, user: str) -> int:
        return self._per_user[user]

    async def serve_session(self, request: web.Request, ws: web.WebSocketResponse,
                            identity: Identity, cursor: Cursor | None) -> None:
        """Upgrade and serve one connection until it closes (called by the /ws handler)."""
        # Counted before the first await so that concurrent handshakes of one user
        # cannot slip past the session limit together.
        self._per_user[identity.user] += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        session: Session | None = None
        session_id = secrets.token_urlsafe(9)
        # Every record this task (and the session's writer task) logs names both.
        logs.bind_connection(session_id, identity.user)
        try:
            await ws.prepare(request)
            log.debug("session opened")
            session = Session(
                session_id=session_id, user=identity.user, exp=identity.exp,
                ws=ws, codec=codec_for(ws.ws_protocol), node_id=self.id,
                limits=self.limits, hub=self.hub, services=self.services,
                verifier=self.verifier, watermark=self.watermark, cursors=self.cursors,
            )
            self._sessions.add(session)
            record = SessionRecord(session=session_id, node=self.id, connected=now_ms())
            self._session_records.setdefault(identity.user, {})[session_id] = record
            self.heartbeat.opened(identity.user, record)
            guard(request, partial(session.close, CloseCode.PROTOCOL_ERROR, "frame not masked"))
            if self.draining:
                session.close(CloseCode.SERVICE_RESTART, "node restarting, reconnect")
            await session.run(cursor)
        finally:
            if session is not None:
                self._sessions.discard(session)
                self._forget_session(identity.user, session_id)
                log.debug("session closed")
            self._handlers.discard(task)
            self._per_user[identity.user] -= 1
            if self._per_user[identity.user] <= 0:
                del self._per_user[identity.user]

    # -- what every node must hear ---------------------------------------------------------

    async def _listen(self, channel: str, listener: Callable[[bytes], None]) -> None:
        await self.hub.listen(channel, listener)

    async def _nodes_of(self, user: str) -> set[str]:
        """The nodes believed to hold sessions of ``user``: this one when it does, and
        those the directory lists."""
        nodes = {self.id} if self.hub.count(user) else set()
        try:
            records = await self.heartbeat.directory.sessions(user, now_ms())
        except DirectoryUnavailable:
            log.warning("directory unavailable: a disconnect waits only for this node")
            return nodes
        return nodes | {record.node for record in records}

    def _forget_session(self, user: str, session_id: str) -> None:
        records = self._session_records.get(user)
        if records is not None and records.pop(session_id, None) is not None:
            if not records:
                del self._session_records[user]
            self.heartbeat.closed(user, session_id)

    def local_sessions(self, user: str) -> list[SessionRecord]:
        """The open sessions of ``user`` on this node."""
        return list(self._session_records.get(user, {}).values())

    def _state(self) -> NodeState:
        return NodeState(sessions=self.connection_count, users=len(self._per_user),
                         draining=self.draining)

    # -- health ----------------------------------------------------------------------

    async def readiness(self) -> tuple[bool, dict[str, bool]]:
        """Whether this node should get traffic: not draining, store and broker answer,
        and every broker subscription connection is up."""
        checks = {"store": True, "broker": True}
        try:
            async with asyncio.timeout(2.0):
                await self.store.ping()
        except (StoreUnavailable, TimeoutError):
            checks["store"] = False
        try:
            async with asyncio.timeout(2.0):
                await self.broker.ping()
        except (BrokerUnavailable, TimeoutError):
            checks["broker"] = False
        # Publishing may work again before the subscriptions are back (they reconnect
        # with backoff): until then this node's sessions hear nothing from the others.
        if getattr(self.broker, "connections_down", 0):
            checks["broker"] = False
        return (not self.draining and all(checks.values())), checks

    # -- background ------------------------------------------------------------------

    async def _sweep_expired(self) -> None:
        while True:
            await asyncio.sleep(EXPIRY_SWEEP)
            now = time.time()
            for session in list(self._sessions):
                if session.expired(now):
                    session.close(CloseCode.POLICY_VIOLATION, "token expired")

    async def _keep_alive(self) -> None:
        # Twice per interval: a client is pinged after one to two intervals of silence
        # and closed when half an interval passes without an answer.
        while True:
            await asyncio.sleep(self.config.heartbeat / 2)
            for session in list(self._sessions):
                session.keepalive()

    def _thread_changed(self, thread: str) -> None:
        self.messaging.threads.forget(thread)

    def _broker_connected(self) -> bool:
        # While a subscription connection is down, membership changes made on other
        # nodes go unheard: the thread cache then defers to the store.
        return not getattr(self.broker, "connections_down", 0)

    def _broker_reset(self) -> None:
        self.messaging.threads.clear()
        # Publications may have been lost while the broker was away: every session
        # reconnects and syncs from the store, which has them all.
        for session in list(self._sessions):
            session.close(CloseCode.TRY_AGAIN_LATER, "reconnect and sync")

    async def __aenter__(self) -> Node:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self.close()
