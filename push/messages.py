"""What a push says: :class:`PushContent` built from an event, addressed as :class:`PushMessage`.

The builders are pure. Every push they build:

* carries string-only ``data`` naming its ``kind`` and its thread, post or notification,
  so a client can open the right screen without parsing anything else;
* shows a title and a short preview, truncated on UTF-8 character boundaries so that
  the encoded payload stays under :data:`PAYLOAD_BUDGET`, well below FCM's 4096 bytes;
* has a collapse key per thread or post, so a device shows only the newest push of a
  conversation (FCM keeps at most four collapse keys per device).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FCM_PAYLOAD_LIMIT = 4096
"""Bytes FCM accepts in a message's notification and data together."""

PAYLOAD_BUDGET = 3072
"""Bytes our builders let title, body and data take, leaving room for FCM's own fields."""

TITLE_MAX = 120
"""Bytes of a title, before the payload budget applies."""

PREVIEW_MAX = 240
"""Bytes of a chat preview: a push shows a line or two, never the whole message."""

COLLAPSE_KEY_MAX = 64
"""Bytes of a collapse key (APNs' ``apns-collapse-id`` limit, the tightest of the three)."""

ELLIPSIS = "\u2026"

CHAT_TTL = 24 * 3600
"""Seconds a chat push may wait for an offline device: after a day, sync tells the story."""

LIKE_TTL = 3600
"""Seconds a like push may wait: a stale like is noise."""

NOTIFICATION_TTL = 24 * 3600


@dataclass(frozen=True, slots=True)
class PushContent:
    """A push not yet addressed to a device: the same for every device of a recipient."""

    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)
    collapse_key: str | None = None
    ttl: int = NOTIFICATION_TTL
    """Seconds FCM keeps the push for a device that is not reachable."""
    high_priority: bool = False
    """Wake the device now (chat) rather than when convenient (likes)."""

    def to(self, token: str) -> PushMessage:
        """This content addressed to the device with FCM registration ``token``."""
        return PushMessage(
            token=token,
            title=self.title,
            body=self.body,
            data=dict(self.data),
            collapse_key=self.collapse_key,
            ttl=self.ttl,
            high_priority=self.high_priority,
        )


@dataclass(frozen=True, slots=True)
class PushMessage:
    """One push to one device; what a :class:`~push.sender.Sender` sends."""

    token: str
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)
    collapse_key: str | None = None
    ttl: int = NOTIFICATION_TTL
    high_priority: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready map of every field (for durable outboxes)."""
        return {
            "token": self.token,
            "title": self.title,
            "body": self.body,
            "data": dict(self.data),
            "collapse_key": self.collapse_key,
            "ttl": self.ttl,
            "high_priority": self.high_priority,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> PushMessage:
        """The message :meth:`to_json` described."""
        return cls(
            token=str(value["token"]),
            title=str(value["title"]),
            body=str(value["body"]),
            data={str(k): str(v) for k, v in value.get("data", {}).items()},
            collapse_key=value.get("collapse_key"),
            ttl=int(value.get("ttl", NOTIFICATION_TTL)),
            high_priority=bool(value.get("high_priority", False)),
        )


# -- sizes -------------------------------------------------------------------------------


def _clean(text: str) -> str:
    # A lone surrogate cannot be encoded as UTF-8 and would fail the send, not the build.
    return text.encode("utf-8", "replace").decode("utf-8")


def _encoded_len(text: str) -> int:
    """Bytes ``text`` takes inside a JSON string (UTF-8, escapes included)."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8")) - 2


def payload_size(title: str, body: str, data: Mapping[str, str]) -> int:
    """Bytes of the notification and data parts of an FCM message, as JSON in UTF-8."""
    payload = {"notification": {"title": title, "body": body}, "data": dict(data)}
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` encoded bytes (see :func:`_encoded_len`), never
    inside a character; an ellipsis marks a cut and counts towards the limit."""
    text = _clean(text)
    if _encoded_len(text) <= limit:
        return text
    room = limit - _encoded_len(ELLIPSIS)
    if room < 0:
        return ""
    used = 0
    end = 0
    for char in text:
        cost = _encoded_len(char)
        if used + cost > room:
            break
        used += cost
        end += 1
    return text[:end].rstrip() + ELLIPSIS


def _fit_body(title: str, body: str, data: Mapping[str, str], limit: int) -> str:
    room = PAYLOAD_BUDGET - payload_size(title, "", data)
    return truncate(body, min(limit, max(room, 0)))


def collapse_key(kind: str, ident: str) -> str:
    """A collapse key for ``kind`` and ``ident``, hashed when it would exceed
    :data:`COLLAPSE_KEY_MAX` bytes (a thread id may be long)."""
    key = f"{kind}:{ident}"
    if len(key.encode("utf-8")) <= COLLAPSE_KEY_MAX:
        return key
    digest = hashlib.sha256(ident.encode("utf-8", "replace")).hexdigest()[:40]
    return f"{kind}#{digest}"


def _as_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


# -- builders ----------------------------------------------------------------------------


def for_chat_message(thread: str, sender: str | None, body: str, unread_count: int,
                     seq: int | None = None) -> PushContent:
    """The push for chat message ``seq`` in ``thread`` from ``sender`` (None: a system
    message), for a recipient who now has ``unread_count`` unread messages there."""
    title = truncate(sender if sender is not None else "New message", TITLE_MAX)
    data = {"kind": "message", "thread": thread, "unread": str(unread_count)}
    if seq is not None:
        data["seq"] = str(seq)
    if sender is not None:
        data["sender"] = sender
    return PushContent(
        title=title,
        body=_fit_body(title, body, data, PREVIEW_MAX),
        data=data,
        collapse_key=collapse_key("t", thread),
        ttl=CHAT_TTL,
        high_priority=True,
    )


def for_reaction(thread: str, seq: int, user: str, emoji: str, body: str) -> PushContent:
    """The push telling a message's sender that ``user`` reacted with ``emoji`` to their
    message ``seq`` of ``thread`` (``body``: that message, for the preview)."""
    data = {"kind": "reaction", "thread": thread, "seq": str(seq), "user": user,
            "emoji": emoji}
    title = truncate(f"{user} reacted {emoji}", TITLE_MAX)
    return PushContent(
        title=title,
        body=_fit_body(title, body, data, PREVIEW_MAX),
        data=data,
        # Not the thread's message key: a reaction must not replace a message's push.
        collapse_key=collapse_key("r", thread),
        ttl=LIKE_TTL,
        high_priority=False,
    )


def for_like(post: str, user: str, count: int) -> PushContent:
    """The push telling a post's owner that ``user`` liked ``post``, now at ``count``."""
    data = {"kind": "like", "post": post, "user": user, "count": str(count)}
    title = truncate(f"{user} liked your post", TITLE_MAX)
    likes = "1 like" if count == 1 else f"{count} likes"
    return PushContent(
        title=title,
        body=_fit_body(title, likes, data, PREVIEW_MAX),
        data=data,
        collapse_key=collapse_key("p", post),
        ttl=LIKE_TTL,
        high_priority=False,
    )


def for_notification(
    nid: str, title: str, body: str, data: Mapping[str, Any] | None = None
) -> PushContent:
    """The push for a backend's notification ``nid``. Values of ``data`` that are not
    strings travel as JSON text; data too large for the budget is left out (the push then
    says ``truncated: "1"`` and the client fetches the notification)."""
    strings = {str(k): _clean(_as_string(v)) for k, v in (data or {}).items()}
    # A backend's own "kind" wins: clients route on it as they do for live notifications.
    strings.setdefault("kind", "notification")
    strings["nid"] = nid
    title = truncate(title, TITLE_MAX)
    if payload_size(title, "", strings) > PAYLOAD_BUDGET // 2:
        strings = {"kind": strings["kind"][:64], "nid": nid, "truncated": "1"}
    return PushContent(
        title=title,
        body=_fit_body(title, body, strings, PREVIEW_MAX),
        data=strings,
        collapse_key=collapse_key("n", nid),
        ttl=NOTIFICATION_TTL,
        high_priority=True,
    )
