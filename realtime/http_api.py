"""The internal HTTP API: its own port, for backends and operators, never for clients.

Every ``/v1`` call needs ``X-API-Key`` (compared in constant time); a missing or wrong
key is refused with 401 before anything else happens. ``/healthz``, ``/readyz``,
``/metrics`` and the OpenAPI document at ``/v1/openapi.json`` need no key.

Bodies are JSON, decoded with the :mod:`realtime.http_schema` types. Every refusal is a
JSON ``{code, message}`` with the status that fits the code (``realtime.errors``), the
same shape as a refused WebSocket handshake. Our own bugs answer 500 ``internal`` with
details only in the log.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import msgspec
from aiohttp import web
from aiohttp.typedefs import Middleware

from presence.presence import PresenceUnavailable
from protocol.errors import ErrorCode
from protocol.frames import INT64_MAX, Attachment
from protocol.limits import Limits
from protocol.validation import (
    PLATFORMS,
    content_problem,
    has_nul,
    is_post_id,
    is_thread_id,
    is_user_id,
    title_problem,
)
from realtime import metrics
from realtime.admin_api import AdminApi
from realtime.errors import HTTP_STATUS, RequestError, code_for_status, unavailable
from realtime.events import NotificationEvent, folded_message
from realtime.http_schema import (
    MAX_USERS_PER_CALL,
    Changed,
    ChangeMembers,
    CreateThread,
    EditMessage,
    ErrorBody,
    Health,
    LikeCount,
    Members,
    MessagesPage,
    Notified,
    Notify,
    Ok,
    Posted,
    PostMessage,
    PostOwner,
    PresenceEntry,
    PresenceList,
    Readiness,
    RegisterDevice,
    SetLike,
    SetPostOwner,
    ThreadCreated,
    ThreadInfo,
)
from realtime.openapi import openapi_document
from realtime.services import Services
from realtime.services.messaging import now_ms
from realtime.store.base import StoreUnavailable

if TYPE_CHECKING:
    from realtime.node import Node

log = logging.getLogger(__name__)

MAX_REQUEST = 2**20
"""Largest request body, bytes: a notify to the most users a call may name fits."""
MAX_NOTIFY_DATA = 4096
"""Largest ``notify`` data, bytes as JSON (an FCM payload is at most 4 KiB)."""
HISTORY_DEFAULT = 50
PUBLIC_PATHS = frozenset({"/v1/openapi.json"})
PROTECTED = ("/v1/", "/status")
"""Paths under the API key (besides ``PUBLIC_PATHS``)."""
BROWSER_PATHS = frozenset({"/status", "/status.js", "/status.css", "/v1/status"})
"""Paths a browser opens: their refusals ask for Basic authentication."""

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# HTTP refusals raised by aiohttp itself (no route, wrong method, body too large),
# named with the protocol's codes.
# -- answers and refusals --------------------------------------------------------------


def answer(body: msgspec.Struct, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(body), status=status,
                        content_type="application/json")


def refusal(code: ErrorCode, message: str, status: int | None = None) -> web.Response:
    """The ``{code, message}`` answer; ``status`` defaults to the one that fits ``code``."""
    return answer(ErrorBody(code=str(code), message=message),  # type: ignore[arg-type]
                  status or HTTP_STATUS[code])


def bad_request(message: str) -> RequestError:
    return RequestError(ErrorCode.BAD_REQUEST, message)


def not_found(what: str) -> RequestError:
    return RequestError(ErrorCode.NOT_FOUND, f"no such {what}")


@web.middleware
async def refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into a ``{code, message}`` answer."""
    try:
        return await handler(request)
    except RequestError as exc:
        return refusal(exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = code_for_status(exc.status)
        return refusal(code, exc.reason.lower(), exc.status)
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return refusal(ErrorCode.INTERNAL, "internal error")


def require_key(api_key: str) -> Middleware:
    """Middleware: ``/v1`` calls and the status page need ``X-API-Key`` equal to
    ``api_key`` (or, for a browser, HTTP Basic authentication with it as the password).
    An empty ``api_key`` refuses every call: the API is never open by accident."""
    expected = api_key.encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith(PROTECTED) and path not in PUBLIC_PATHS:
            given = _given_key(request)
            if not expected or not hmac.compare_digest(given, expected):
                response = refusal(ErrorCode.UNAUTHORIZED, "missing or wrong X-API-Key")
                if path in BROWSER_PATHS:
                    # Lets a browser ask for the key (any user name, the key as password).
                    response.headers["WWW-Authenticate"] = (
                        'Basic realm="realtime status", charset="UTF-8"')
                return response
        return await handler(request)

    return check


def _given_key(request: web.Request) -> bytes:
    """The key a request carries: ``X-API-Key``, else a Basic password."""
    key = request.headers.get("X-API-Key")
    if key is None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True)
            except (ValueError, binascii.Error):
                decoded = b""
            return decoded.partition(b":")[2]
    # surrogateescape: a header that is not UTF-8 still compares (unequal).
    return (key or "").encode("utf-8", "surrogateescape")


# -- input -----------------------------------------------------------------------------


async def decode(request: web.Request, kind: type[T], *, strict: bool = True) -> T:
    """The request's JSON body as ``kind``; 400 with the decoder's message otherwise.

    No string of it may hold U+0000, which the PostgreSQL store cannot keep (see
    :func:`~protocol.validation.has_nul`): in JSON it can only come as an escape.
    """
    raw = await request.read()
    try:
        decoded = msgspec.json.decode(raw, type=kind, strict=strict)
        if b"\\u0000" in raw and has_nul(msgspec.to_builtins(decoded)):
            raise bad_request("strings must not contain the character U+0000")
        return decoded
    except msgspec.DecodeError as exc:
        raise bad_request(str(exc)) from None
    except UnicodeDecodeError:
        raise bad_request("the body has a string that is not valid UTF-8") from None
    except RecursionError:
        raise bad_request("the body is nested too deeply") from None


def check_users(users: list[str], name: str) -> list[str]:
    """``users`` without duplicates, in order; 400 unless each is a user id."""
    for user in users:
        if not is_user_id(user):
            raise bad_request(f"{name}: {user!r} is not a user id "
                              "(1..64 characters of [A-Za-z0-9_.@+-])")
    return list(dict.fromkeys(users))


def json_size(name: str, value: Any) -> int:
    """Bytes of ``value`` as JSON; 400 unless every node can also carry it as
    MessagePack (JSON integers are unbounded, MessagePack's are not)."""
    try:
        msgspec.msgpack.encode(value)
        return len(msgspec.json.encode(value))
    except (TypeError, ValueError, OverflowError, UnicodeEncodeError):
        raise bad_request(f"{name} must hold only JSON values that fit 64-bit integers "
                          "and valid Unicode") from None


def too_large(name: str, size: int, limit: int) -> RequestError:
    return RequestError(ErrorCode.TOO_LARGE,
                        f"{name} is {size} bytes, more than the limit of {limit}")


def path_thread(request: web.Request) -> str:
    thread = request.match_info["thread"]
    if not is_thread_id(thread):
        raise bad_request("thread must be 1..128 printable ASCII characters, no spaces")
    return thread


def path_seq(request: web.Request) -> int:
    text = request.match_info["seq"]
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= INT64_MAX:
        raise bad_request("seq must be the seq of a message: an integer from 1 to 2**63-1")
    return int(text)


def path_post(request: web.Request) -> str:
    post = request.match_info["post"]
    if not is_post_id(post):
        raise bad_request("post must be 1..128 characters of [A-Za-z0-9_.:@+-]")
    return post


def query_int(request: web.Request, name: str, *, minimum: int) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or not minimum <= int(raw) <= INT64_MAX:
        raise bad_request(f"{name} must be an integer from {minimum} to {INT64_MAX}")
    return int(raw)


async def from_store(awaitable: Awaitable[T]) -> T:
    """Await a dependency call; an unreachable store or shared presence answers 503."""
    try:
        return await awaitable
    except StoreUnavailable as exc:
        raise unavailable("the store") from exc
    except PresenceUnavailable as exc:
        raise unavailable("presence") from exc


# -- the application -------------------------------------------------------------------


class Devices(Protocol):
    """Where push tokens are kept (the store)."""

    async def add_device(self, user: str, token: str, platform: str) -> None: ...
    async def remove_device(self, token: str) -> bool: ...


class Notifier(Protocol):
    """Queues pushes for users with no session (the push service, when push is on)."""

    async def notify(self, users: Sequence[str], nid: str, push: Mapping[str, str] | None,
                     data: Mapping[str, Any] | None = None) -> list[str]: ...


class HttpApi:
    """The handlers, given what they use: the services, the devices' store, the push
    service (None: push is off), this node's own online check, its readiness, limits."""

    def __init__(self, *, services: Services, devices: Devices, push: Notifier | None,
                 online_here: Callable[[str], bool],
                 readiness: Callable[[], Awaitable[tuple[bool, dict[str, bool]]]],
                 limits: Limits) -> None:
        self._services = services
        self._messaging = services.messaging
        self._devices = devices
        self._push = push
        self._online_here = online_here
        self._readiness = readiness
        self.limits = limits
        self._openapi = msgspec.json.encode(openapi_document())

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/healthz", self.healthz)
        r.add_get("/readyz", self.readyz)
        r.add_get("/metrics", self.metrics)
        r.add_get("/v1/openapi.json", self.openapi)
        r.add_post("/v1/threads", self.create_thread)
        r.add_get("/v1/threads/{thread}", self.describe_thread)
        r.add_post("/v1/threads/{thread}/members", self.change_members)
        r.add_post("/v1/threads/{thread}/messages", self.post_message)
        r.add_get("/v1/threads/{thread}/messages", self.history)
        r.add_patch("/v1/threads/{thread}/messages/{seq}", self.edit_message)
        r.add_delete("/v1/threads/{thread}/messages/{seq}", self.unsend_message)
        r.add_post("/v1/notify", self.notify)
        r.add_put("/v1/posts/{post}", self.set_post_owner)
        r.add_post("/v1/posts/{post}/likes", self.set_like)
        r.add_get("/v1/posts/{post}/likes", self.like_count)
        r.add_post("/v1/devices", self.add_device)
        r.add_delete("/v1/devices/{token}", self.remove_device)
        r.add_get("/v1/presence", self.presence)

    # -- operations --------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return answer(Health(ok=True))

    async def readyz(self, request: web.Request) -> web.Response:
        ready, checks = await self._readiness()
        return answer(Readiness(ready=ready, store=checks["store"], broker=checks["broker"]),
                      200 if ready else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(),
                            headers={"Content-Type": metrics.CONTENT_TYPE})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.Response(body=self._openapi, content_type="application/json")

    # -- threads -----------------------------------------------------------------------

    async def create_thread(self, request: web.Request) -> web.Response:
        body = await decode(request, CreateThread)
        members = check_users(body.members, "members")
        if body.title is not None:
            self._check_title(body.title)
        # The same entry as a member's create, with user null; the group has no admin.
        made = await self._services.groups.create(None, members, body.title)
        return answer(ThreadCreated(thread=made.thread.id))

    async def describe_thread(self, request: web.Request) -> web.Response:
        thread = await self._services.groups.describe(path_thread(request))
        return answer(ThreadInfo(thread=thread.id, kind=thread.kind, title=thread.title,
                                 members=list(thread.members), admins=list(thread.admins)))

    def _check_title(self, title: str) -> None:
        problem = title_problem(title, self.limits)
        if problem is not None:
            raise RequestError(*problem)

    async def change_members(self, request: web.Request) -> web.Response:
        thread_id = path_thread(request)
        body = await decode(request, ChangeMembers)
        add = check_users(body.add, "add")
        remove = check_users(body.remove, "remove")
        # A DM's members are fixed by its id: answered 400 bad_request.
        changed = await self._services.groups.change_members(None, thread_id, add, remove)
        return answer(Members(members=list(changed.thread.members)))

    async def post_message(self, request: web.Request) -> web.Response:
        thread_id = path_thread(request)
        # Lax: JSON Schema calls 2.0 an integer, so the document's clients may send it.
        body = await decode(request, PostMessage, strict=False)
        sender = body.from_
        if sender is not None and not is_user_id(sender):
            raise bad_request("from must be a user id (1..64 characters of [A-Za-z0-9_.@+-])")
        attachments = None if body.attachments is None else msgspec.to_builtins(
            body.attachments)
        # The types checked each field; the rules are the WebSocket's, checked again.
        self._check_content(body.body, body.meta, None if attachments is None
                            else msgspec.convert(attachments, list[Attachment]))
        thread = await self._messaging.find_thread(thread_id)
        if sender is not None and sender not in thread.members:
            raise RequestError(ErrorCode.FORBIDDEN, "from is not a member of this thread")
        if body.reply_to is not None:
            try:
                await self._messaging.check_reply(thread, body.reply_to)
            except RequestError as exc:
                if exc.code is not ErrorCode.BAD_REQUEST:
                    raise
                # A resource the body names that does not exist: 404, as for a path.
                raise not_found("message to reply to") from exc
        # Acked means durable: post() returns after the commit, and publishes to every
        # member's sessions (origin None: no session gets an ack instead).
        appended = await self._messaging.post(thread, sender, body.body, meta=body.meta,
                                                  cid=body.cid, reply_to=body.reply_to,
                                                  attachments=attachments)
        m = appended.message
        return answer(Posted(thread=m.thread, seq=m.seq, msg=m.msg, ts=m.ts))

    async def history(self, request: web.Request) -> web.Response:
        thread_id = path_thread(request)
        before = query_int(request, "before", minimum=1)
        limit = query_int(request, "limit", minimum=1) or HISTORY_DEFAULT
        limit = min(limit, self.limits.max_history)
        await self._messaging.find_thread(thread_id)
        page = await self._messaging.history(None, thread_id, before, limit)
        # Messages in their current state, with every cid (a backend may have set it).
        messages = [folded_message(m, m.sender, with_cid=True) for m in page.messages]
        return answer(MessagesPage(messages=messages, more=page.more))

    async def edit_message(self, request: web.Request) -> web.Response:
        """An ``edit`` entry with user null: the API may edit any message."""
        thread_id, seq = path_thread(request), path_seq(request)
        body = await decode(request, EditMessage)
        self._check_content(body.body, body.meta, None)
        changed = await self._messaging.change(
            None, thread_id, "edit", seq, body=body.body, meta=body.meta,
            replace_meta=body.meta is not None)
        return answer(Changed(thread=thread_id, seq=changed.seq, target=seq))

    async def unsend_message(self, request: web.Request) -> web.Response:
        """An ``unsend`` entry with user null: moderation removes any message."""
        thread_id, seq = path_thread(request), path_seq(request)
        changed = await self._messaging.change(None, thread_id, "unsend", seq)
        return answer(Changed(thread=thread_id, seq=changed.seq, target=seq))

    def _check_content(self, text: str, meta: dict[str, Any] | None,
                       attachments: list[Attachment] | None) -> None:
        """The message rules of the WebSocket (:func:`protocol.validation.content_problem`)."""
        problem = content_problem(text, meta, attachments, self.limits)
        if problem is not None:
            raise RequestError(*problem)

    # -- notifications -----------------------------------------------------------------

    async def notify(self, request: web.Request) -> web.Response:
        body = await decode(request, Notify)
        users = check_users(body.users, "users")
        size = json_size("data", body.data)
        if size > MAX_NOTIFY_DATA:
            raise too_large("data as JSON", size, MAX_NOTIFY_DATA)
        event = NotificationEvent(nid=secrets.token_urlsafe(12), data=body.data, ts=now_ms())
        live = await self._online(users)
        await self._messaging.publish(users, event)
        pushed: list[str] = []
        if body.push is not None and self._push is not None:
            pushed = await self._push.notify(
                users, event.nid, {"title": body.push.title, "body": body.push.body},
                body.data)
        return answer(Notified(nid=event.nid, live=live, pushed=pushed))

    async def _online(self, users: list[str]) -> list[str]:
        """Those of ``users`` with a session on any node of the cluster, in order."""
        try:
            online = await self._services.presence.online(users)
        except Exception as exc:
            # Shared presence is unreachable (Redis down): the notification is published
            # all the same, and this node's own sessions are certainly reached.
            log.warning("notify: cluster presence unavailable (%s); live lists local users",
                        exc)
            return [u for u in users if self._online_here(u)]
        return [u for u in users if u in online]

    # -- posts and likes ---------------------------------------------------------------
    # The likes service, shared with the sockets: followers of the post get coalesced
    # counts, and its owner a like notification.

    async def set_post_owner(self, request: web.Request) -> web.Response:
        post = path_post(request)
        body = await decode(request, SetPostOwner)
        owner = check_users([body.owner], "owner")[0]
        await from_store(self._services.likes.set_owner(post, owner))
        return answer(PostOwner(post=post, owner=owner))

    async def set_like(self, request: web.Request) -> web.Response:
        post = path_post(request)
        body = await decode(request, SetLike)
        user = check_users([body.user], "user")[0]
        count = await from_store(self._services.likes.like(user, post, body.on))
        return answer(LikeCount(post=post, count=count))

    async def like_count(self, request: web.Request) -> web.Response:
        post = path_post(request)
        count = await from_store(self._services.likes.count(post))
        return answer(LikeCount(post=post, count=count))

    # -- devices and presence ----------------------------------------------------------

    async def add_device(self, request: web.Request) -> web.Response:
        body = await decode(request, RegisterDevice)
        user = check_users([body.user], "user")[0]
        assert body.platform in PLATFORMS  # the decoder enforces the enumeration
        # Straight to the store until the push service owns device tokens.
        await from_store(self._devices.add_device(user, body.token, body.platform))
        return answer(Ok(ok=True))

    async def remove_device(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if len(token) > 4096:
            raise bad_request("token must be 1..4096 characters")
        # Idempotent: forgetting a token that is not registered is not an error.
        await from_store(self._devices.remove_device(token))
        return answer(Ok(ok=True))

    async def presence(self, request: web.Request) -> web.Response:
        raw = request.query.get("users", "")
        names = [u for u in raw.split(",") if u]
        if not names:
            raise bad_request("users must name at least one user: ?users=a,b")
        if len(names) > MAX_USERS_PER_CALL:
            raise bad_request(f"users may name at most {MAX_USERS_PER_CALL} users")
        users = check_users(names, "users")
        states = await from_store(self._services.presence.states(users))
        return answer(PresenceList(users=[
            PresenceEntry(user=p.user, online=p.online, last_seen=p.last_seen) for p in states
        ]))


def make_api_app(node: Node) -> web.Application:
    """The application served on the internal API port."""
    app = web.Application(middlewares=[refusals, require_key(node.config.api_key)],
                          client_max_size=MAX_REQUEST)
    HttpApi(services=node.services, devices=node.store,
            push=node.push.service if node.push is not None else None,
            online_here=node.hub.is_online, readiness=node.readiness,
            limits=node.config.limits).add_routes(app)
    AdminApi(node).add_routes(app)
    metrics.watch_node(node)
    return app
