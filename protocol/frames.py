"""Every frame of the v1 wire contract, declared once as a :class:`msgspec.Struct`.

A frame is one map whose ``type`` field names it; msgspec's tagged unions turn that map
into the matching class and back. Both codecs (JSON and MessagePack) are derived from
these declarations, so the types written here *are* the decoder's schema.

Client frames (:data:`ClientFrame`) may carry a request ``id``; the server's reply
carries the same ``id``. Fields a client frame does not declare are ignored, including
``from``: identity never comes from a frame.

Server frames (:data:`ServerFrame`) leave out optional fields that are ``None``; fields
that the contract requires even when null (``message.from``, ``message.meta``,
``presence.last_seen``, a thread entry's ``last``) have no default, so they are always
encoded.

A client ``typing`` and a server ``typing`` share a tag, as do ``history`` and
``threads`` requests and replies: they live in different unions.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from protocol.errors import ProtocolError

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "Ack",
    "Attachment",
    "Block",
    "ClientFrame",
    "Create",
    "Device",
    "Edit",
    "Error",
    "History",
    "HistoryReply",
    "Int64",
    "Leave",
    "Like",
    "Likes",
    "ListThreads",
    "Members",
    "Message",
    "Mute",
    "Notification",
    "Ping",
    "Pong",
    "Presence",
    "React",
    "Read",
    "Receipt",
    "Refresh",
    "Rename",
    "RequestId",
    "Send",
    "ServerFrame",
    "Subscribe",
    "Sync",
    "Synced",
    "ThreadEntry",
    "ThreadsReply",
    "Typing",
    "TypingEvent",
    "Unsend",
    "Unsubscribe",
    "Update",
    "Welcome",
    "error_frame",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# Every integer on the wire fits in a signed 64-bit integer: JSON has no bound of its
# own, and a larger value could not be stored, nor re-encoded as MessagePack.
Int64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]

RequestId = Int64 | str
"""A client request's ``id``: an integer or a string, echoed in the reply."""


# Client -> server


# kw_only is repeated on every frame because msgspec applies it per class: it lets
# required fields follow the inherited optional ``id``.


class _ClientFrame(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="type"):
    id: RequestId | None = None


class Attachment(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Metadata of a file shared with a message; the app's own storage serves ``url``.

    The server stores no media: only these fields, checked by
    :mod:`protocol.validation` (https URLs, a MIME type, sizes in range).
    """

    url: str
    type: str
    size: Int64
    name: str | None = None
    width: Int64 | None = None
    height: Int64 | None = None
    duration_ms: Int64 | None = None
    thumb: str | None = None


class Send(_ClientFrame, tag="send", kw_only=True):
    """Post ``body`` to ``thread``, or to the DM thread with user ``to``; answered by
    an :class:`Ack` carrying thread, seq, msg and ts. ``reply_to`` names a message of
    the same thread; ``attachments`` describe shared files (at most 10)."""

    thread: str | None = None
    to: str | None = None
    cid: str
    body: str
    meta: dict[str, Any] | None = None
    reply_to: Int64 | None = None
    attachments: list[Attachment] | None = None


class Edit(_ClientFrame, tag="edit", kw_only=True):
    """Replace the body (and ``meta``, when given) of message ``seq`` of ``thread``,
    which the user sent; answered by an :class:`Ack` {thread, seq (the entry's), target}."""

    thread: str
    seq: Int64
    body: str
    meta: dict[str, Any] | None = None


class Unsend(_ClientFrame, tag="unsend", kw_only=True):
    """Erase message ``seq`` of ``thread``, which the user sent; answered by an
    :class:`Ack` {thread, seq (the entry's), target}."""

    thread: str
    seq: Int64


class React(_ClientFrame, tag="react", kw_only=True):
    """Add (``on``) or remove the user's ``emoji`` on message ``seq`` of ``thread``;
    answered by an :class:`Ack` {thread, seq, target}, ``seq`` null when the reaction
    was already in that state."""

    thread: str
    seq: Int64
    emoji: str
    on: bool


class Create(_ClientFrame, tag="create", kw_only=True):
    """Make a group of the user (its first admin) and ``members`` (at least one other
    user), titled ``title``; answered by an :class:`Ack` {thread}."""

    members: list[str]
    title: str | None = None


class Members(_ClientFrame, tag="members", kw_only=True):
    """Add ``add`` to and remove ``remove`` from group ``thread`` (admins; anyone may
    remove themselves); answered by an :class:`Ack` {thread, members}."""

    thread: str
    add: list[str] = msgspec.field(default_factory=list)
    remove: list[str] = msgspec.field(default_factory=list)


class Leave(_ClientFrame, tag="leave", kw_only=True):
    """Leave group ``thread``; answered by an :class:`Ack` {thread}."""

    thread: str


class Rename(_ClientFrame, tag="rename", kw_only=True):
    """Set the title of group ``thread`` (admins); answered by an :class:`Ack` {thread}."""

    thread: str
    title: str


class Block(_ClientFrame, tag="block", kw_only=True):
    """Block (``on``) or unblock ``user``; answered by an :class:`Ack`."""

    user: str
    on: bool


class Mute(_ClientFrame, tag="mute", kw_only=True):
    """Mute (``on``) ``thread`` for the user's pushes, until ``until`` (epoch ms) when
    given, or unmute it; answered by an :class:`Ack`."""

    thread: str
    on: bool
    until: Int64 | None = None


class Typing(_ClientFrame, tag="typing", kw_only=True):
    """Start (``on``) or stop typing in ``thread``; answered only on error."""

    thread: str
    on: bool


class Read(_ClientFrame, tag="read", kw_only=True):
    """Mark ``thread`` read up to ``seq``; answered by an :class:`Ack`."""

    thread: str
    seq: Int64


class History(_ClientFrame, tag="history", kw_only=True):
    """Ask for up to ``limit`` messages of ``thread`` older than ``before``; answered by
    a :class:`HistoryReply`."""

    thread: str
    before: Int64 | None = None
    limit: Int64 = 50


class Sync(_ClientFrame, tag="sync", kw_only=True):
    """Ask for every message after ``cursor``; answered by the missed
    :class:`Message` frames in order, then :class:`Synced`."""

    cursor: str | None = None


class ListThreads(_ClientFrame, tag="threads", kw_only=True):
    """Ask for a page of the user's threads, newest activity first: up to ``limit``,
    starting after the thread ``after`` (the last of the previous page); answered by a
    :class:`ThreadsReply`."""

    limit: Int64 = 50
    after: str | None = None


class Like(_ClientFrame, tag="like", kw_only=True):
    """Like (``on``) or unlike ``post``; answered by an :class:`Ack` with post, count."""

    post: str
    on: bool


class Subscribe(_ClientFrame, tag="subscribe", kw_only=True):
    """Follow ``topic`` (``post:<id>`` or ``presence:<user>``); answered by an
    :class:`Ack`."""

    topic: str


class Unsubscribe(_ClientFrame, tag="unsubscribe", kw_only=True):
    """Stop following ``topic``; answered by an :class:`Ack`."""

    topic: str


class Device(_ClientFrame, tag="device", kw_only=True):
    """Register this device's push ``token`` for ``platform``; answered by an
    :class:`Ack`."""

    token: str
    platform: str


class Refresh(_ClientFrame, tag="refresh", kw_only=True):
    """Replace the connection's token with a fresh one for the same user; answered by
    an :class:`Ack` carrying the new ``exp``."""

    token: str


class Ping(_ClientFrame, tag="ping", kw_only=True):
    """Application-level ping; answered by a :class:`Pong`."""


ClientFrame = (
    Send
    | Typing
    | Read
    | History
    | Sync
    | ListThreads
    | Like
    | Subscribe
    | Unsubscribe
    | Device
    | Refresh
    | Ping
    | Edit
    | Unsend
    | React
    | Create
    | Members
    | Leave
    | Rename
    | Block
    | Mute
)


# Server -> client


class _ServerFrame(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="type"):
    pass


class Welcome(_ServerFrame, tag="welcome", kw_only=True):
    """First frame of every connection."""

    user: str
    session: str
    node: str
    cursor: str
    limits: dict[str, int | float]


class Ack(_ServerFrame, tag="ack", kw_only=True):
    """Success reply to a request; which optional fields are set depends on it.

    ``seq`` is left out unless set; set to ``None`` it is sent as null (a ``react``
    that changed nothing). ``target`` is the message an ``edit``, ``unsend`` or
    ``react`` was about.
    """

    id: RequestId | None = None
    thread: str | None = None
    seq: Int64 | msgspec.UnsetType | None = msgspec.UNSET
    target: Int64 | None = None
    msg: str | None = None
    ts: Int64 | None = None
    post: str | None = None
    count: Int64 | None = None
    exp: Int64 | None = None
    members: list[str] | None = None


class Error(_ServerFrame, tag="error", kw_only=True):
    """Failure reply to a request (``id`` set), or a report about no request at all."""

    code: str
    message: str
    id: RequestId | None = None


class Message(_ServerFrame, tag="message", kw_only=True):
    """A message in a thread. ``from_`` (``from`` on the wire) is ``None`` for a system
    message; ``cid`` is only sent to the sender's own devices."""

    thread: str
    seq: Int64
    msg: str
    from_: str | None = msgspec.field(name="from")
    body: str
    meta: dict[str, Any] | None
    ts: Int64
    cid: str | None = None
    reply_to: Int64 | None = None
    attachments: list[Attachment] | None = None
    edited: Int64 | None = None
    """Epoch ms of the last edit, when edited."""
    deleted: bool | None = None
    """True when unsent: body is empty, meta and attachments are gone."""
    reactions: dict[str, list[str]] | None = None
    """{emoji: [users]}, in ``history`` and ``threads`` (folded state), when any."""
    cursor: str | None = None


class Update(_ServerFrame, tag="update", kw_only=True):
    """A change to message ``target`` of ``thread``, or to the group itself (``target``
    null): an entry of the thread's log with its own ``seq``. ``user`` is who made it
    (None: the HTTP API). By ``kind``: ``edit`` carries the new ``body`` and ``meta``;
    ``react`` the ``emoji`` and ``on``; ``unsend`` nothing more; ``members`` the users
    ``added`` and ``removed`` and the group's ``admins`` after it; ``title`` the
    ``title``."""

    thread: str
    seq: Int64
    target: Int64 | None
    kind: str
    user: str | None
    ts: Int64
    body: str | None = None
    meta: dict[str, Any] | None = None
    emoji: str | None = None
    on: bool | None = None
    added: list[str] | None = None
    removed: list[str] | None = None
    admins: list[str] | None = None
    title: str | None = None
    cursor: str | None = None


class TypingEvent(_ServerFrame, tag="typing", kw_only=True):
    """``user`` started (``on``) or stopped typing in ``thread``."""

    thread: str
    user: str
    on: bool


class Receipt(_ServerFrame, tag="receipt", kw_only=True):
    """``user`` has read ``thread`` up to ``seq``."""

    thread: str
    user: str
    seq: Int64


class Likes(_ServerFrame, tag="likes", kw_only=True):
    """``post`` now has ``count`` likes."""

    post: str
    count: Int64


class Presence(_ServerFrame, tag="presence", kw_only=True):
    """``user`` is online or not; ``last_seen`` (epoch ms) is ``None`` if never seen."""

    user: str
    online: bool
    last_seen: Int64 | None


class Notification(_ServerFrame, tag="notification", kw_only=True):
    """A notification published by a backend."""

    nid: str
    data: dict[str, Any]
    ts: Int64


class HistoryReply(_ServerFrame, tag="history", kw_only=True):
    """Reply to :class:`History`: a page of messages in ascending ``seq``; ``more``
    tells whether older ones exist."""

    thread: str
    messages: list[Message]
    more: bool
    id: RequestId | None = None


class ThreadEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One thread in a :class:`ThreadsReply`; ``last`` is ``None`` for an empty thread.
    ``kind`` is ``dm`` or ``group``; ``admins`` a group's admins; ``muted`` False, True
    or until when (epoch ms); ``blocked`` only on a DM whose other member the user
    blocks (never shown to the one blocked)."""

    thread: str
    members: list[str]
    last: Message | None
    unread: Int64
    title: str | None = None
    kind: str | None = None
    admins: list[str] | None = None
    muted: Int64 | bool | msgspec.UnsetType = msgspec.UNSET
    blocked: bool | None = None


class ThreadsReply(_ServerFrame, tag="threads", kw_only=True):
    """Reply to :class:`ListThreads`; ``more`` tells whether threads follow this page."""

    threads: list[ThreadEntry]
    more: bool
    id: RequestId | None = None


class Synced(_ServerFrame, tag="synced", kw_only=True):
    """End of a replay: every message up to ``cursor`` has been sent."""

    cursor: str
    id: RequestId | None = None


class Pong(_ServerFrame, tag="pong", kw_only=True):
    """Reply to :class:`Ping`."""

    id: RequestId | None = None


ServerFrame = (
    Welcome
    | Ack
    | Error
    | Message
    | TypingEvent
    | Receipt
    | Likes
    | Presence
    | Notification
    | HistoryReply
    | ThreadsReply
    | Synced
    | Pong
    | Update
)


def error_frame(exc: ProtocolError) -> Error:
    """Return the ``error`` frame that answers ``exc``."""
    return Error(code=str(exc.code), message=exc.message, id=exc.request_id)
