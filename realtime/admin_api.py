"""The admin view on the internal port: the cluster's nodes, a user's sessions, and a
status page.

``GET /v1/nodes`` and ``GET /v1/users/{user}/sessions`` read the cluster's directory
(``realtime.directory``), with this node's own entries taken from memory so that they are
never stale. ``GET /status`` is a small page (``realtime/web/status.*``) that polls
``GET /v1/status``. All of it is behind the API key: ``X-API-Key``, or, for a browser,
HTTP Basic authentication with the key as password.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from protocol.errors import ErrorCode
from protocol.validation import is_user_id
from realtime.directory.base import DirectoryUnavailable, NodeRecord
from realtime.directory.heartbeat import now_ms
from realtime.errors import RequestError
from realtime.http_schema import (
    Disconnected,
    DisconnectUser,
    LoggedError,
    NodeEntry,
    NodeList,
    NodeRates,
    SessionEntry,
    SessionList,
    Status,
    StatusPoint,
)

if TYPE_CHECKING:
    from realtime.node import Node

WEB = Path(__file__).parent / "web"
STATUS_FILES = {"/status": ("status.html", "text/html"),
                "/status.js": ("status.js", "text/javascript"),
                "/status.css": ("status.css", "text/css")}

# The page loads its own script and style only, and talks to its own node only.
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _answer(body: msgspec.Struct) -> web.Response:
    return web.Response(body=msgspec.json.encode(body), content_type="application/json",
                        headers={"Cache-Control": "no-store"})


def _entry(record: NodeRecord, now: int) -> NodeEntry:
    return NodeEntry(
        node=record.node, version=record.version, started=record.started,
        uptime=max(0.0, (now - record.started) / 1000), heartbeat=record.heartbeat,
        sessions=record.sessions, users=record.users,
        rates=NodeRates(received=record.rates.received, sent=record.rates.sent,
                        errors=record.rates.errors),
        draining=record.draining,
    )


class AdminApi:
    """The admin handlers, bound to one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/v1/nodes", self.nodes)
        r.add_get("/v1/users/{user}/sessions", self.sessions)
        r.add_post("/v1/users/{user}/disconnect", self.disconnect)
        r.add_get("/v1/status", self.status)
        for path in STATUS_FILES:
            r.add_get(path, self.page)

    async def _nodes(self) -> list[NodeEntry]:
        heartbeat = self.node.heartbeat
        now = now_ms()
        try:
            records = await heartbeat.directory.nodes(now)
        except DirectoryUnavailable as exc:
            raise RequestError(ErrorCode.UNAVAILABLE, "the directory is unavailable") from exc
        own = heartbeat.record()
        records = [own if r.node == own.node else r for r in records]
        if all(r.node != own.node for r in records):
            records.append(own)
        return [_entry(r, now) for r in sorted(records, key=lambda r: r.node)]

    async def nodes(self, request: web.Request) -> web.Response:
        return _answer(NodeList(nodes=await self._nodes()))

    async def sessions(self, request: web.Request) -> web.Response:
        user = request.match_info["user"]
        if not is_user_id(user):
            raise RequestError(ErrorCode.BAD_REQUEST, "invalid user id")
        try:
            found = await self.node.heartbeat.directory.sessions(user, now_ms())
        except DirectoryUnavailable as exc:
            raise RequestError(ErrorCode.UNAVAILABLE, "the directory is unavailable") from exc
        # This node's sessions from memory: the directory hears of them a beat late.
        records = [s for s in found if s.node != self.node.id]
        records += self.node.local_sessions(user)
        records.sort(key=lambda s: (s.connected, s.session))
        return _answer(SessionList(sessions=[
            SessionEntry(session=s.session, node=s.node, connected=s.connected)
            for s in records
        ]))

    async def disconnect(self, request: web.Request) -> web.Response:
        """Close every session of the user on every node; answer how many (see
        :mod:`realtime.services.moderation` for how the count is gathered)."""
        user = request.match_info["user"]
        if not is_user_id(user):
            raise RequestError(ErrorCode.BAD_REQUEST, "invalid user id")
        body = DisconnectUser()
        raw = await request.read()
        if raw.strip():
            try:
                # Lax: JSON Schema calls 1008.0 an integer.
                body = msgspec.json.decode(raw, type=DisconnectUser, strict=False)
            except msgspec.DecodeError as exc:
                raise RequestError(ErrorCode.BAD_REQUEST, f"invalid body: {exc}") from exc
        closed = await self.node.services.moderation.disconnect(
            user, body.code, body.reason or "disconnected by the service")
        return _answer(Disconnected(closed=closed))

    async def status(self, request: web.Request) -> web.Response:
        points = self.node.heartbeat.stats.points()
        return _answer(Status(
            node=self.node.id,
            nodes=await self._nodes(),
            points=[StatusPoint(t=p.t, received=p.received, sent=p.sent, errors=p.errors,
                                sessions=p.sessions, p50=p.p50, p99=p.p99) for p in points],
            errors=[LoggedError(t=e.t, level=e.level, logger=e.logger, message=e.message)
                    for e in self.node.recent_errors.records()],
        ))

    async def page(self, request: web.Request) -> web.FileResponse:
        name, content_type = STATUS_FILES[request.path]
        return web.FileResponse(WEB / name, headers={
            "Content-Type": content_type, "Content-Security-Policy": _CSP,
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        })
