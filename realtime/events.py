"""Events that travel between nodes through the broker, and their one-time encoding.

An event is encoded to bytes once per publication (MessagePack, arrays, compact), and a
node turns it into a client frame once per codec and variant, not once per recipient:
:class:`Delivery` caches the encoded frames for all the local sessions it reaches.
"""

from __future__ import annotations

from typing import Any

import msgspec

from protocol.codec import Codec
from protocol.frames import (
    Attachment,
    Likes,
    Message,
    Notification,
    Presence,
    Receipt,
    TypingEvent,
    Update,
)
from protocol.validation import format_cursor
from realtime.store.base import StoredMessage


class MessageEvent(msgspec.Struct, tag="m", array_like=True, frozen=True):
    """A committed entry of a thread's log, for every session of every member: a
    message, or (``kind`` other than ``"message"``) a change to message ``target``,
    sent as an ``update`` frame. Both travel one path: the feed orders a thread's
    entries by ``seq`` whatever their kind."""

    thread: str
    seq: int
    pos: int
    msg: str
    sender: str | None
    body: str
    meta: dict[str, Any] | None
    ts: int
    cid: str | None
    origin: str | None
    """The session that sent it: it gets the ack instead of the message."""
    kind: str = "message"
    target: int | None = None
    reply_to: int | None = None
    attachments: list[dict[str, Any]] | None = None
    edited: int | None = None
    deleted: bool = False
    emoji: str | None = None
    on: bool | None = None


class ReceiptEvent(msgspec.Struct, tag="r", array_like=True, frozen=True):
    """``user`` has read ``thread`` up to ``seq``."""

    thread: str
    user: str
    seq: int
    origin: str | None


class TypingChange(msgspec.Struct, tag="t", array_like=True, frozen=True):
    """``user`` started or stopped typing in ``thread``."""

    thread: str
    user: str
    on: bool
    origin: str | None


class NotificationEvent(msgspec.Struct, tag="n", array_like=True, frozen=True):
    """A backend's notification for a user's sessions."""

    nid: str
    data: dict[str, Any]
    ts: int
    origin: str | None = None


class PresenceChange(msgspec.Struct, tag="p", array_like=True, frozen=True):
    """``user`` came online or went offline (published to the ``presence:<user>`` topic)."""

    user: str
    online: bool
    last_seen: int | None
    origin: str | None = None


class LikesCount(msgspec.Struct, tag="l", array_like=True, frozen=True):
    """The like count of ``post`` (published to the ``post:<id>`` topic, coalesced)."""

    post: str
    count: int
    origin: str | None = None


class Unwatch(msgspec.Struct, tag="u", array_like=True, frozen=True):
    """``user`` blocked the recipient: their sessions stop showing ``user``'s presence.
    Never reaches a client."""

    user: str
    origin: str | None = None


class Disconnect(msgspec.Struct, tag="d", array_like=True, frozen=True):
    """Close every session of the recipient with ``code`` and ``reason``; each node that
    has some answers how many to ``reply`` (a channel) for ``request``. Never reaches a
    client."""

    code: int
    reason: str
    request: str
    reply: str
    origin: str | None = None


class DisconnectReply(msgspec.Struct, tag="D", array_like=True, frozen=True):
    """Node ``node`` closed ``closed`` sessions for disconnect ``request``."""

    request: str
    node: str
    closed: int
    origin: str | None = None


Event = (
    MessageEvent | ReceiptEvent | TypingChange | NotificationEvent | PresenceChange | LikesCount
    | Unwatch | Disconnect | DisconnectReply
)


def topic_of(event: Event) -> str | None:
    """The topic an event is published to, or None for events addressed to users."""
    if isinstance(event, PresenceChange):
        return f"presence:{event.user}"
    if isinstance(event, LikesCount):
        return f"post:{event.post}"
    return None


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Event)


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(data: bytes) -> Event:
    """Decode an event; raises ``msgspec.DecodeError`` on bytes no node of ours wrote."""
    return _decoder.decode(data)


def message_frame(event: MessageEvent, *, with_cid: bool,
                  cursor: bool = False) -> Message | Update:
    """The ``message`` frame for ``event`` (an ``update`` for a change); ``cid`` only for
    the sender's own devices, ``cursor`` left out where no cursor applies (history,
    thread lists)."""
    if event.kind != "message":
        return update_frame(event, cursor=cursor)
    if (event.reply_to is not None or event.attachments is not None or event.deleted
            or event.edited is not None):
        return Message(
            thread=event.thread,
            seq=event.seq,
            msg=event.msg,
            from_=event.sender,
            body=event.body,
            meta=event.meta,
            ts=event.ts,
            cid=event.cid if with_cid else None,
            reply_to=event.reply_to,
            attachments=None if event.attachments is None
            else msgspec.convert(event.attachments, list[Attachment]),
            edited=event.edited,
            deleted=True if event.deleted else None,
            cursor=format_cursor(event.pos) if cursor else None,
        )
    return Message(
        thread=event.thread,
        seq=event.seq,
        msg=event.msg,
        from_=event.sender,
        body=event.body,
        meta=event.meta,
        ts=event.ts,
        cid=event.cid if with_cid else None,
        cursor=format_cursor(event.pos) if cursor else None,
    )


def event_of(m: StoredMessage, origin: str | None = None) -> MessageEvent:
    """The event that carries stored entry ``m`` to the members' sessions."""
    if m.kind == "message" and m.reply_to is None and m.attachments is None \
            and m.edited is None and not m.deleted:
        # The common case, with the fewest arguments (this runs for every message).
        return MessageEvent(m.thread, m.seq, m.pos, m.msg, m.sender, m.body, m.meta, m.ts,
                            m.cid, origin)
    return MessageEvent(m.thread, m.seq, m.pos, m.msg, m.sender, m.body, m.meta, m.ts, m.cid,
                        origin, kind=m.kind, target=m.target, reply_to=m.reply_to,
                        attachments=m.attachments, edited=m.edited, deleted=m.deleted,
                        emoji=m.emoji, on=m.on)


def stored_frame(m: StoredMessage, user: str | None, cursor: str | None, *,
                 with_cid: bool = False) -> Message | Update:
    """The frame of stored entry ``m`` as ``user`` sees it: a ``message`` in its current
    state (reactions folded in where read) or an ``update``. ``cid`` goes to the sender
    only, unless ``with_cid`` (the HTTP API)."""
    frame = message_frame(event_of(m), with_cid=with_cid or m.sender == user)
    frame.cursor = cursor
    if m.reactions and isinstance(frame, Message):
        frame.reactions = m.reactions
    return frame


def folded_message(m: StoredMessage, user: str | None, *, with_cid: bool = False) -> Message:
    """The ``message`` frame of a message read in its current state (``history``,
    ``threads``' ``last``), as ``user`` sees it."""
    frame = stored_frame(m, user, None, with_cid=with_cid)
    assert isinstance(frame, Message), "history and thread lists hold only messages"
    return frame


def update_frame(event: MessageEvent, *, cursor: bool = False) -> Update:
    """The ``update`` frame of a change entry: by kind, the edit's body and meta, the
    reaction's emoji and on, the members added and removed (and the admins after), or
    the new title."""
    kind = event.kind
    edit = kind == "edit"
    update = Update(
        thread=event.thread,
        seq=event.seq,
        target=event.target,
        kind=kind,
        user=event.sender,
        ts=event.ts,
        body=event.body if edit else None,
        meta=event.meta if edit else None,
        emoji=event.emoji,
        on=event.on,
        cursor=format_cursor(event.pos) if cursor else None,
    )
    if kind == "members" and event.meta is not None:
        update.added = list(event.meta.get("added", ()))
        update.removed = list(event.meta.get("removed", ()))
        update.admins = list(event.meta.get("admins", ()))
    elif kind == "title":
        update.title = event.body
    return update


class Delivery:
    """One decoded event on its way to this node's sessions, with its encodings cached."""

    __slots__ = ("_frames", "_with_cursor", "event")

    def __init__(self, event: Event) -> None:
        self.event = event
        self._frames: dict[tuple[str, bool], bytes] = {}
        self._with_cursor: dict[tuple[str, bool], tuple[str, bytes]] | None = None

    @property
    def origin(self) -> str | None:
        return self.event.origin

    def encoded(self, codec: Codec, user: str) -> bytes:
        """The frame as ``user``'s session speaking ``codec`` must receive it."""
        event = self.event
        own = isinstance(event, MessageEvent) and event.sender == user
        key = (codec.subprotocol, own)
        data = self._frames.get(key)
        if data is None:
            data = codec.encode_server(self._frame(own))
            self._frames[key] = data
        return data

    def encoded_with_cursor(self, codec: Codec, user: str, cursor: str) -> bytes:
        """:meth:`encoded` with ``cursor`` added (a ``message`` frame's last field).

        On one node, every member who receives a message gets the same cursor (its
        position): the frame is then made once for all of them. Only the last cursor
        is kept, so sessions with cursors of their own (in a cluster) cost no memory.
        """
        event = self.event
        key = (codec.subprotocol, isinstance(event, MessageEvent) and event.sender == user)
        if self._with_cursor is None:
            self._with_cursor = {}
        else:
            cached = self._with_cursor.get(key)
            if cached is not None and cached[0] == cursor:
                return cached[1]
        data = codec.with_field(self.encoded(codec, user), "cursor", cursor)
        self._with_cursor[key] = (cursor, data)
        return data

    def _frame(self, own: bool) -> Any:
        event = self.event
        if isinstance(event, MessageEvent):
            # The cursor differs per session: each session appends its own.
            return message_frame(event, with_cid=own, cursor=False)
        if isinstance(event, ReceiptEvent):
            return Receipt(thread=event.thread, user=event.user, seq=event.seq)
        if isinstance(event, TypingChange):
            return TypingEvent(thread=event.thread, user=event.user, on=event.on)
        if isinstance(event, NotificationEvent):
            return Notification(nid=event.nid, data=event.data, ts=event.ts)
        if isinstance(event, PresenceChange):
            return Presence(user=event.user, online=event.online, last_seen=event.last_seen)
        assert isinstance(event, LikesCount), "control events never reach a client"
        return Likes(post=event.post, count=event.count)
