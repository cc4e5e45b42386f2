"""The internal HTTP API (its own port, ``X-API-Key`` on every /v1 call)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from realtime.node import Node


def make_api_app(node: Node) -> web.Application:
    """The application served on the internal API port."""
    app = web.Application()

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(request: web.Request) -> web.Response:
        ready, checks = await node.readiness()
        return web.json_response({"ready": ready, **checks}, status=200 if ready else 503)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
