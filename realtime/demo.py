"""The web demo: a chat page and the development-only routes it needs, on the public port.

:func:`add_demo_routes` is called by :func:`realtime.server.make_public_app` only when
``config.dev_mode`` is true, that is when the node made up its own secrets: these routes
hand out tokens to anyone who asks, which no production node may do.

Routes:

* ``GET /`` and ``GET /demo``: the page; ``GET /client.js``, ``/demo.js``, ``/demo.css``:
  its static files (``realtime/web``), with nothing fetched from elsewhere.
* ``POST /dev/token`` ``{user}``: ``{user, token, exp}``, a client token for ``user``
  signed with the node's secret (400 ``bad_request`` unless ``user`` is a user id).
* ``POST /dev/join`` with ``Authorization: Bearer <token>``: puts the token's user in the
  demo's group thread (created by the first user to join, who also becomes the owner of
  the demo post) and answers ``{user, lobby, post}``. A user's first join posts a system
  message to the lobby, so the members' pages learn of the newcomer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

from aiohttp import web

from protocol.errors import ErrorCode
from protocol.validation import is_user_id
from realtime.auth import AuthError, bearer_token
from realtime.errors import HTTP_STATUS, RequestError
from realtime.store.base import StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable

    from realtime.auth import TokenVerifier
    from realtime.node import Node
    from realtime.services.likes import LikesService
    from realtime.services.messaging import MessagingService

log = logging.getLogger(__name__)

WEB_DIR: Final = Path(__file__).parent / "web"
"""Where the page and the browser client live (shipped in the wheel as package data)."""

LOBBY_TITLE: Final = "lobby"
DEMO_POST: Final = "demo-post"
TOKEN_TTL: Final = 12 * 3600
"""Seconds a demo token lives; the page fetches a fresh one on every reconnection."""
STATE_FILE: Final = "demo.json"
"""Kept in the data directory, next to the development secrets: the lobby's thread id."""
MAX_BODY: Final = 1024

STATIC_FILES: Final[dict[str, tuple[str, str]]] = {
    "/client.js": ("client.js", "text/javascript; charset=utf-8"),
    "/demo.js": ("demo.js", "text/javascript; charset=utf-8"),
    "/demo.css": ("demo.css", "text/css; charset=utf-8"),
}
PAGE: Final = ("demo.html", "text/html; charset=utf-8")

# The page loads only its own files and talks only to its own node; images may also come
# over https, from wherever an app's storage serves the thumbnails of attachments.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def refuse(code: ErrorCode, message: str) -> web.Response:
    return web.json_response({"code": str(code), "message": message},
                             status=HTTP_STATUS[code])


class DemoRoutes:
    """The demo's handlers, given what they use: a way to mint tokens, the token
    verifier, the messaging and likes services, and the data dir where the lobby's id is
    kept. The lobby is created on the first join."""

    def __init__(self, *, mint: Callable[[str, int], str], verifier: TokenVerifier,
                 messaging: MessagingService, likes: LikesService, data_dir: str) -> None:
        self._mint = mint
        self._verifier = verifier
        self._messaging = messaging
        self._likes = likes
        self._data_dir = data_dir
        self._lobby: str | None = None
        # Two first visitors at once must not make two lobbies.
        self._lobby_lock = asyncio.Lock()

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/", self.page)
        r.add_get("/demo", self.page)
        for path in STATIC_FILES:
            r.add_get(path, self.static)
        r.add_post("/dev/token", self.token)
        r.add_post("/dev/join", self.join)

    # -- files -----------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.StreamResponse:
        name, content_type = PAGE
        response = _file(name, content_type)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response

    async def static(self, request: web.Request) -> web.StreamResponse:
        name, content_type = STATIC_FILES[request.path]
        return _file(name, content_type)

    # -- development-only identity -----------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            return refuse(ErrorCode.TOO_LARGE, f"the body is over {MAX_BODY} bytes")
        try:
            body = json.loads(raw)
        except ValueError:
            return refuse(ErrorCode.BAD_REQUEST, "expected a JSON body {\"user\": ...}")
        user = body.get("user") if isinstance(body, dict) else None
        if not is_user_id(user):
            return refuse(ErrorCode.BAD_REQUEST,
                          "user must be 1..64 characters of letters, digits and _.@+-")
        assert isinstance(user, str)
        exp = int(time.time()) + TOKEN_TTL
        return web.json_response({"user": user, "token": self._mint(user, TOKEN_TTL),
                                  "exp": exp})

    async def join(self, request: web.Request) -> web.Response:
        token = bearer_token(request.headers, request.query)
        if token is None:
            return refuse(ErrorCode.UNAUTHORIZED, "missing token")
        try:
            user = (await self._verifier.authenticate(token)).user
        except AuthError as exc:
            return refuse(ErrorCode.UNAUTHORIZED, str(exc))
        try:
            lobby = await self._join_lobby(user)
        except RequestError as exc:
            return refuse(exc.code, exc.message)
        except StoreUnavailable:
            return refuse(ErrorCode.UNAVAILABLE, "the store is unavailable, retry")
        return web.json_response({"user": user, "lobby": lobby, "post": DEMO_POST})

    # -- the lobby ---------------------------------------------------------------------

    async def _join_lobby(self, user: str) -> str:
        messaging = self._messaging
        async with self._lobby_lock:
            thread = None
            lobby = self._lobby or await asyncio.to_thread(_read_lobby, self._state_path)
            if lobby is not None:
                thread = await messaging.store.get_thread(lobby)
            if thread is None:
                thread = await messaging.create_group([user], LOBBY_TITLE)
                await asyncio.to_thread(_write_lobby, self._state_path, thread.id)
                # The lobby's creator owns the demo post: likes notify someone.
                await self._likes.set_owner(DEMO_POST, user)
                newcomer = True
            else:
                newcomer = user not in thread.members
                if newcomer:
                    thread = await messaging.change_members(thread.id, [user], [])
            self._lobby = thread.id
        if newcomer:
            # Members' pages refresh their thread list and presence on this system message.
            await messaging.post(thread, None, f"{user} joined the lobby",
                                 meta={"kind": "join", "user": user})
        return thread.id

    @property
    def _state_path(self) -> Path:
        return Path(self._data_dir) / STATE_FILE


def add_demo_routes(app: web.Application, node: Node) -> None:
    """Serve the demo page and its development-only routes on ``app``."""
    DemoRoutes(mint=lambda user, ttl: node.token(user, ttl=ttl), verifier=node.verifier,
               messaging=node.messaging, likes=node.services.likes,
               data_dir=node.config.data_dir).add_routes(app)
    log.warning("development mode: a demo chat is served at / on the public port, where "
                "/dev/token hands a token to anyone")


def _file(name: str, content_type: str) -> web.FileResponse:
    # A development page: always revalidate, so an edited file shows on the next reload.
    return web.FileResponse(WEB_DIR / name, headers={"Content-Type": content_type,
                                                     "Cache-Control": "no-cache"})


def _read_lobby(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    lobby = data.get("lobby") if isinstance(data, dict) else None
    return lobby if isinstance(lobby, str) else None


def _write_lobby(path: Path, lobby: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"lobby": lobby}))
