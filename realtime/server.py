"""The public port: the WebSocket handshake at ``/ws``, the liveness checks, and in
development mode the demo page (``realtime.demo``).

A handshake is refused with a plain HTTP answer and a JSON ``{code, message}`` body,
never upgraded first: 401 for a missing or bad token, 400 for a malformed cursor or a
request that is not an upgrade, 429 past the per-user session limit or the handshake
rate of the client's address, 403 for a browser Origin not allowed, 503 when the node is
draining or full. The admission checks (``realtime.admission``) run before the token is
even read.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from protocol.codec import SUBPROTOCOLS
from protocol.cursor import Cursor
from protocol.errors import ErrorCode, ProtocolError
from realtime.auth import AuthError, Identity, bearer_token
from realtime.demo import add_demo_routes
from realtime.errors import HTTP_STATUS, code_for_status

if TYPE_CHECKING:
    from realtime.admission import Admission
    from realtime.auth import TokenVerifier
    from realtime.config import Config
    from realtime.cursor_seal import CursorSeal
    from realtime.node import Node

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

Admitted = tuple[web.WebSocketResponse, Identity, Cursor | None]
"""An accepted handshake: its response to prepare, who it is, where it resumes."""


def refuse(code: ErrorCode, message: str) -> web.Response:
    """A plain HTTP refusal with the ``{code, message}`` body every client can read."""
    return refuse_with(code, message, HTTP_STATUS[code])


def refuse_with(code: ErrorCode, message: str, status: int) -> web.Response:
    """:func:`refuse` with an HTTP status of its own (405 has no code of its own)."""
    return web.json_response({"code": str(code), "message": message}, status=status)


class Gate(Protocol):
    """What a handshake is judged against (the node): its state, its checks and limits."""

    @property
    def draining(self) -> bool: ...
    @property
    def admission(self) -> Admission: ...
    @property
    def verifier(self) -> TokenVerifier: ...
    @property
    def cursors(self) -> CursorSeal: ...
    @property
    def config(self) -> Config: ...
    @property
    def connection_count(self) -> int: ...
    def session_count(self, user: str) -> int: ...


async def admit(node: Gate, request: web.Request) -> web.Response | Admitted:
    """Judge a handshake: the refusal to answer it with, or what to serve it with.

    The token is the one check that may wait (for an identity provider's keys); the
    limits are checked after it, so they count what is true when the answer is given.
    """
    if node.draining:
        return refuse(ErrorCode.UNAVAILABLE, "node is shutting down, connect to another")
    refusal = node.admission.check(request.remote, origin=request.headers.get("Origin"),
                                   forwarded_for=request.headers.get("X-Forwarded-For"),
                                   now=time.monotonic())
    if refusal is not None:
        response = refuse(refusal.code, refusal.message)
        if refusal.retry_after is not None:
            response.headers["Retry-After"] = str(refusal.retry_after)
        return response
    token = bearer_token(request.headers, request.query)
    if token is None:
        return refuse(ErrorCode.UNAUTHORIZED, "missing token")
    try:
        identity = await node.verifier.authenticate(token)
    except AuthError as exc:
        return refuse(ErrorCode.UNAUTHORIZED, str(exc))
    raw_cursor = request.query.get("cursor") or request.headers.get("X-Cursor")
    try:
        cursor = node.cursors.open(raw_cursor) if raw_cursor else None
    except ProtocolError as exc:
        return refuse(ErrorCode.BAD_REQUEST, exc.message)
    if node.connection_count >= node.config.limit_connections:
        return refuse(ErrorCode.UNAVAILABLE, "node is full, connect to another")
    if node.session_count(identity.user) >= node.config.limit_sessions:
        return refuse(ErrorCode.RATE_LIMITED, "too many sessions for this user")
    ws = web.WebSocketResponse(
        protocols=SUBPROTOCOLS,
        max_msg_size=node.config.limit_frame,
        # permessage-deflate, when on, is only used with clients that offer it.
        compress=node.config.compression,
        # Keepalive pings come from the node's one ticking task, not a timer per
        # connection (see Session.keepalive); the session answers pings itself.
        autoping=False,
    )
    if not ws.can_prepare(request).ok:
        return refuse(ErrorCode.BAD_REQUEST, "expected a WebSocket upgrade")
    return ws, identity, cursor


@web.middleware
async def json_http_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An unknown path, or a method a path has not, is answered with the JSON
    ``{code, message}`` body of every other refusal, as the API does."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return refuse_with(code_for_status(exc.status), exc.reason.lower(), exc.status)


def make_public_app(node: Node) -> web.Application:
    """The application served on the public port."""
    app = web.Application(middlewares=[json_http_errors])

    async def websocket(request: web.Request) -> web.StreamResponse:
        admitted = await admit(node, request)
        if isinstance(admitted, web.Response):
            return admitted
        # Only what the session needs stays referenced for the connection's life (the
        # token and its claims were admit's): this frame lives as long as the socket.
        ws, identity, cursor = admitted
        await node.serve_session(request, ws, identity, cursor)
        return ws

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(request: web.Request) -> web.Response:
        ready, checks = await node.readiness()
        return web.json_response({"ready": ready, **checks}, status=200 if ready else 503)

    app.router.add_get("/ws", websocket)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if node.config.dev_mode:
        add_demo_routes(app, node)
    return app
