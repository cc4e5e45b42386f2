"""The bodies of the internal HTTP API, declared once as :class:`msgspec.Struct` types.

Requests are decoded with these types, so a wrong type, a missing field or a value
outside an enumeration is refused by the decoder itself (400 ``bad_request`` with its
message); answers are encoded from them; and the OpenAPI document (``realtime.openapi``)
is generated from the same declarations, so the document cannot drift from the code.

Fields a request does not declare are ignored, as in client frames. Rules a type cannot
express (user id syntax beyond the documented pattern, sizes in bytes) are checked by
the handlers in ``realtime.http_api``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from protocol.frames import Int64, Message
from protocol.validation import (
    HTTPS_URL_REGEX,
    MAX_ATTACHMENT_NAME,
    MAX_ATTACHMENTS,
    MAX_URL_LENGTH,
    MIME_TYPE_REGEX,
)

MAX_USERS_PER_CALL = 10_000
"""Users one ``notify`` or ``presence`` call may name, and members one call may add."""

UserId = Annotated[
    str,
    msgspec.Meta(pattern=r"^[A-Za-z0-9_.@+\-]{1,64}$",
                 description="1..64 characters of [A-Za-z0-9_.@+-]"),
]
NO_NUL = r"^[^\x00]*$"
TITLE_TEXT = r"^[^\x00-\x1f\x7f-\x9f]+$"
"""Every string a request carries: the store cannot keep U+0000 (``realtime.http_api``
refuses it anywhere in a body, keys of free-form maps included)."""
JSON_VALUE_SCHEMA: dict[str, Any] = {
    "description": "Any JSON value; numbers within the signed 64-bit integer range; no "
                   "string (or key) holds U+0000.",
    "anyOf": [
        {"type": "null"}, {"type": "boolean"}, {"type": "string", "pattern": NO_NUL},
        {"type": "number", "minimum": -(2**63), "maximum": 2**63 - 1},
        {"type": "array", "items": {"$ref": "#/components/schemas/JsonValue"}},
        {"type": "object", "propertyNames": {"pattern": NO_NUL},
         "additionalProperties": {"$ref": "#/components/schemas/JsonValue"}},
    ],
}
"""The schema of the values inside ``meta`` and ``data``: every node must be able to carry
them as MessagePack too, whose integers are bounded (JSON's are not)."""

JsonMap = Annotated[
    dict[str, Any],
    msgspec.Meta(extra_json_schema={
        "propertyNames": {"pattern": NO_NUL},
        "additionalProperties": {"$ref": "#/components/schemas/JsonValue"}}),
]
UserList = Annotated[list[UserId], msgspec.Meta(max_length=MAX_USERS_PER_CALL)]
Platform = Literal["android", "ios", "web"]


class _Body(msgspec.Struct, kw_only=True):
    pass


# -- requests --------------------------------------------------------------------------


class CreateThread(_Body, kw_only=True):
    """Create a group thread with these members (duplicates collapse)."""

    members: Annotated[list[UserId], msgspec.Meta(min_length=1, max_length=MAX_USERS_PER_CALL)]
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=256,
                                       pattern=TITLE_TEXT)] | None = None
    """1..``REALTIME_LIMIT_TITLE`` characters (past it: 413), no control characters."""


class ChangeMembers(_Body, kw_only=True):
    """Add, then remove, members of a group thread."""

    add: UserList = msgspec.field(default_factory=list)
    remove: UserList = msgspec.field(default_factory=list)


class PostMessage(_Body, kw_only=True):
    """Post a message; ``from`` omitted posts a system message (``from`` null)."""

    from_: UserId | None = msgspec.field(name="from", default=None)
    body: Annotated[str, msgspec.Meta(pattern=NO_NUL)]
    meta: JsonMap | None = None
    cid: Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=NO_NUL)] | None = None
    reply_to: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)] | None = None
    """The seq of a message of the same thread this one answers (404 if there is none)."""
    attachments: Annotated[list[PostedAttachment],
                           msgspec.Meta(max_length=MAX_ATTACHMENTS)] | None = None
    """Files shared with the message (metadata only: https URLs the app's storage serves)."""


HttpsUrl = Annotated[str, msgspec.Meta(pattern=f"^{HTTPS_URL_REGEX}$",
                                      max_length=MAX_URL_LENGTH,
                                      description="An https URL, in ASCII, without userinfo.")]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


class PostedAttachment(_Body, kw_only=True):
    """A file shared with a message: metadata only (the app's own storage serves it)."""

    url: HttpsUrl
    type: Annotated[str, msgspec.Meta(pattern=f"^{MIME_TYPE_REGEX}$",
                                      description="A MIME type such as image/jpeg.")]
    size: Count
    """Bytes."""
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ATTACHMENT_NAME,
                                      pattern=NO_NUL)] | None = None
    width: Count | None = None
    height: Count | None = None
    duration_ms: Count | None = None
    thumb: HttpsUrl | None = None


class EditMessage(_Body, kw_only=True):
    """The new body of a message, and its new ``meta`` (omitted: the meta is kept)."""

    body: Annotated[str, msgspec.Meta(pattern=NO_NUL)]
    meta: JsonMap | None = None


class PushText(_Body, kw_only=True):
    """What a push notification shows when a user is not reached live."""

    title: Annotated[str, msgspec.Meta(max_length=256, pattern=NO_NUL)]
    body: Annotated[str, msgspec.Meta(max_length=1024, pattern=NO_NUL)]


class Notify(_Body, kw_only=True):
    """Deliver ``data`` to every online session of ``users``."""

    users: UserList
    data: JsonMap
    push: PushText | None = None


class SetPostOwner(_Body, kw_only=True):
    """Name the owner of a post (who gets like notifications)."""

    owner: UserId


class SetLike(_Body, kw_only=True):
    """Like (``on``) or unlike a post as ``user``."""

    user: UserId
    on: bool


class RegisterDevice(_Body, kw_only=True):
    """Register a push token for a user's device."""

    user: UserId
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096, pattern=NO_NUL)]
    platform: Platform


# -- answers ---------------------------------------------------------------------------


class ErrorBody(_Body, kw_only=True):
    """Every refusal: a stable code of the protocol and a message safe to show."""

    code: Literal["bad_request", "unauthorized", "forbidden", "not_found", "too_large",
                  "rate_limited", "unavailable", "internal"]
    message: str


class ThreadCreated(_Body, kw_only=True):
    thread: str


class ThreadInfo(_Body, kw_only=True):
    """A thread as ``GET /v1/threads/{thread}`` describes it."""

    thread: str
    kind: str
    title: str | None
    members: list[str]
    admins: list[str]


class DisconnectUser(_Body, kw_only=True):
    """Close every session of a user with ``code`` (1008 unless given; 1000 and
    4000-4999, for the application's own meanings, are the others worth sending) and
    ``reason``."""

    code: Annotated[int, msgspec.Meta(ge=1000, le=4999)] = 1008
    reason: Annotated[str, msgspec.Meta(max_length=120, pattern=NO_NUL)] = ""


class Disconnected(_Body, kw_only=True):
    closed: Int64


class Members(_Body, kw_only=True):
    members: list[str]


class Posted(_Body, kw_only=True):
    """The committed message's position: the same fields as a WebSocket ``ack``."""

    thread: str
    seq: Int64
    msg: str
    ts: Int64


class Changed(_Body, kw_only=True):
    """A change to a message, as a WebSocket ``ack`` of ``edit`` or ``unsend`` says it:
    ``seq`` is the change's own entry (null when an edit changed nothing and the message
    was never edited), ``target`` the message changed."""

    thread: str
    seq: Int64 | None
    target: Int64


class MessagesPage(_Body, kw_only=True):
    """A page of history, as the WebSocket ``history`` reply carries it: ``message``
    objects in ascending ``seq`` (with ``cid`` when set, without ``cursor``); ``more``
    tells whether older messages exist."""

    messages: list[Message]
    more: bool


class Notified(_Body, kw_only=True):
    nid: str
    live: list[str]
    """Users with a session that the notification was delivered to."""
    pushed: list[str]
    """Users for whom a push was queued (empty while push is disabled)."""


class PostOwner(_Body, kw_only=True):
    post: str
    owner: str


class LikeCount(_Body, kw_only=True):
    post: str
    count: Int64


class Ok(_Body, kw_only=True):
    ok: bool


class PresenceEntry(_Body, kw_only=True):
    user: str
    online: bool
    last_seen: Int64 | None
    """Epoch milliseconds; null if the user was never seen."""


class PresenceList(_Body, kw_only=True):
    users: list[PresenceEntry]


class Health(_Body, kw_only=True):
    ok: bool


class Readiness(_Body, kw_only=True):
    ready: bool
    store: bool
    broker: bool


# -- the admin view --------------------------------------------------------------------


class NodeRates(_Body, kw_only=True):
    """Per second, over the node's last heartbeat interval."""

    received: float
    """Valid client frames read."""
    sent: float
    """Frames delivered to sessions."""
    errors: float
    """Error frames sent to clients."""


class NodeEntry(_Body, kw_only=True):
    """One live node of the cluster."""

    node: str
    version: str
    started: Int64
    """When the node started, epoch milliseconds."""
    uptime: float
    """Seconds since it started."""
    heartbeat: Int64
    """Its last heartbeat, epoch milliseconds (this node's own entry: now)."""
    sessions: int
    users: int
    rates: NodeRates
    draining: bool


class NodeList(_Body, kw_only=True):
    nodes: list[NodeEntry]


class SessionEntry(_Body, kw_only=True):
    session: str
    node: str
    connected: Int64
    """When the session opened, epoch milliseconds."""


class SessionList(_Body, kw_only=True):
    sessions: list[SessionEntry]


class StatusPoint(_Body, kw_only=True):
    """One heartbeat interval of this node."""

    t: Int64
    """When it ended, epoch milliseconds."""
    received: float
    sent: float
    errors: float
    sessions: int
    p50: float
    """Seconds from a message handed to the store to its commit: median (bucket bound)."""
    p99: float


class LoggedError(_Body, kw_only=True):
    t: Int64
    level: str
    logger: str
    message: str


class Status(_Body, kw_only=True):
    """What the status page shows: the cluster, and this node's last minutes."""

    node: str
    nodes: list[NodeEntry]
    points: list[StatusPoint]
    errors: list[LoggedError]
    """This node's newest warnings and errors first."""
