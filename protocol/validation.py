"""Checks on client frames that the codec's types cannot express.

The codec guarantees types (a ``seq`` is a 64-bit integer, a ``body`` a string);
:func:`validate` then checks values against the contract and the node's
:class:`~protocol.limits.Limits`: identifier syntax, sizes, ranges, enumerations.
Call it once on every decoded client frame, before acting on it.

Identifiers:

- user id: 1..64 characters of ``[A-Za-z0-9_.@+-]`` (no ``:``, so that a DM thread id
  such as ``dm:alice:bob`` stays unambiguous);
- thread id: 1..128 printable ASCII characters, no whitespace;
- post id: 1..128 characters of ``[A-Za-z0-9_.:@+-]``;
- client message id (``cid``): 1..128 characters;
- request id: an integer, or a string of at most 64 characters;
- cursor: 1..20 ASCII digits, a decimal position opaque to clients.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import msgspec

from protocol.cursor import check_cursor, format_cursor, parse_cursor
from protocol.errors import ErrorCode, ProtocolError
from protocol.frames import (
    INT64_MAX,
    INT64_MIN,
    Attachment,
    Block,
    ClientFrame,
    Create,
    Device,
    Edit,
    History,
    Leave,
    Like,
    ListThreads,
    Members,
    Mute,
    Ping,
    React,
    Read,
    Refresh,
    Rename,
    Send,
    Subscribe,
    Sync,
    Typing,
    Unsend,
    Unsubscribe,
)
from protocol.limits import Limits

__all__ = [
    "MAX_ATTACHMENTS",
    "MAX_CID_LENGTH",
    "MAX_EMOJI_BYTES",
    "MAX_REQUEST_ID_LENGTH",
    "PLATFORMS",
    "POST_ID_PATTERN",
    "THREAD_ID_PATTERN",
    "USER_ID_PATTERN",
    "format_cursor",
    "has_nul",
    "is_post_id",
    "is_thread_id",
    "is_user_id",
    "parse_cursor",
    "parse_topic",
    "validate",
]

USER_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_.@+\-]{1,64}")
THREAD_ID_PATTERN: Final = re.compile(r"[\x21-\x7e]{1,128}")
POST_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_.:@+\-]{1,128}")

MAX_CID_LENGTH: Final = 128
MAX_REQUEST_ID_LENGTH: Final = 64
MAX_DEVICE_TOKEN_LENGTH: Final = 4096
MAX_REFRESH_TOKEN_LENGTH: Final = 8192
PLATFORMS: Final = frozenset({"android", "ios", "web"})
MAX_ATTACHMENTS: Final = 10
MAX_EMOJI_BYTES: Final = 32
MAX_URL_LENGTH: Final = 2048
MAX_ATTACHMENT_NAME: Final = 255
# A MIME type: type "/" subtype, RFC 6838 restricted names, parameters not allowed.
MIME_TYPE_REGEX: Final = (
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]{0,126}"
)
MIME_TYPE_PATTERN: Final = re.compile(MIME_TYPE_REGEX)
# https://host[:port][/path?query#fragment], in ASCII (RFC 3986: anything else travels
# percent-encoded): a non-empty host of letters, digits and .-_~%[]: (IPv6, a port), then
# printable ASCII without spaces. No userinfo: "@" cannot hide the real host.
HTTPS_URL_REGEX: Final = r"https://[A-Za-z0-9.\-_~%\[\]:]+(?:[/?#][!-~]*)?"
HTTPS_URL_PATTERN: Final = re.compile(HTTPS_URL_REGEX)

TOPIC_POST: Final = "post"
TOPIC_PRESENCE: Final = "presence"


def is_user_id(s: object) -> bool:
    """Return whether ``s`` is a valid user id."""
    return isinstance(s, str) and USER_ID_PATTERN.fullmatch(s) is not None


def is_thread_id(s: object) -> bool:
    """Return whether ``s`` is a valid thread id."""
    return isinstance(s, str) and THREAD_ID_PATTERN.fullmatch(s) is not None


def is_post_id(s: object) -> bool:
    """Return whether ``s`` is a valid post id."""
    return isinstance(s, str) and POST_ID_PATTERN.fullmatch(s) is not None


def parse_topic(topic: str, request_id: int | str | None = None) -> tuple[str, str]:
    """Split a topic into ``("post", post_id)`` or ``("presence", user_id)``.

    Raise :class:`ProtocolError` ``bad_request`` (carrying ``request_id``) for anything
    else.
    """
    kind, sep, target = topic.partition(":")
    if sep and (
        (kind == TOPIC_POST and is_post_id(target))
        or (kind == TOPIC_PRESENCE and is_user_id(target))
    ):
        return kind, target
    raise ProtocolError(
        ErrorCode.BAD_REQUEST,
        "topic must be post:<post id> or presence:<user id>",
        request_id,
    )


F = TypeVar("F", bound=ClientFrame)


def validate(frame: F, limits: Limits) -> F:
    """Check ``frame`` against the contract and ``limits``; return it, maybe adjusted.

    Raise :class:`ProtocolError` carrying the frame's ``id`` on the first rule broken:
    ``too_large`` for a ``send`` whose body (as UTF-8) is longer than
    ``limits.max_body`` bytes or whose meta (as JSON) is longer than
    ``limits.max_meta`` bytes, ``bad_request`` for anything else. A request id that is
    itself invalid (a string longer than 64 characters) is not echoed.

    The one adjustment: a ``history`` whose ``limit`` is above ``limits.max_history``
    is not an error; the returned frame's ``limit`` is clamped to ``max_history``.
    """
    request_id = frame.id
    if isinstance(request_id, str) and len(request_id) > MAX_REQUEST_ID_LENGTH:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST,
            f"request id must be at most {MAX_REQUEST_ID_LENGTH} characters",
        )
    checked: F = _RULES[type(frame)](frame, limits)
    return checked


def _bad(frame: ClientFrame, message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, message, frame.id)


def _check_thread(frame: ClientFrame, thread: str) -> None:
    if not is_thread_id(thread):
        raise _bad(frame, "thread must be 1..128 printable ASCII characters, no spaces")


def _check_length(frame: ClientFrame, name: str, value: str, maximum: int) -> None:
    if not 1 <= len(value) <= maximum:
        raise _bad(frame, f"{name} must be 1..{maximum} characters")


def has_nul(root: object) -> bool:
    """Whether a string in ``root`` (a string, or a JSON value: keys too) holds U+0000.

    PostgreSQL's ``text`` and ``jsonb`` cannot store that character: a message carrying
    one would fail the whole group commit it shares with other users' messages.
    """
    stack = [root]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
    return False


def _check_no_nul(frame: ClientFrame, name: str, value: object) -> None:
    # A string, the common case, is checked without has_nul's walk (this runs per send).
    if ("\x00" in value) if isinstance(value, str) else has_nul(value):
        raise _bad(frame, f"{name} must not contain the character U+0000")


def _is_json_value(root: object) -> bool:
    # Iterative, so that nesting depth cannot exhaust the stack. MessagePack can carry
    # values that JSON cannot (bytes, extension types, timestamps), and JSON integers
    # are unbounded: either would break a later encode for some other recipient.
    # MessagePack timestamps decode to datetimes, rejected by the last branch.
    stack = [root]
    while stack:
        value = stack.pop()
        if value is None or isinstance(value, bool | str):
            continue
        if isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                return False
        elif isinstance(value, float):
            if not math.isfinite(value):
                return False
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    return False
                stack.append(item)
        else:
            return False
    return True


def _validate_send(frame: Send, limits: Limits) -> Send:
    if (frame.thread is None) == (frame.to is None):
        raise _bad(frame, "send needs exactly one of thread or to")
    if frame.thread is not None:
        _check_thread(frame, frame.thread)
    elif not is_user_id(frame.to):
        raise _bad(frame, "to must be a user id: 1..64 characters of [A-Za-z0-9_.@+-]")
    _check_length(frame, "cid", frame.cid, MAX_CID_LENGTH)
    _check_no_nul(frame, "cid", frame.cid)
    if frame.reply_to is not None and frame.reply_to < 1:
        raise _bad(frame, "reply_to must be the seq of a message (>= 1)")
    problem = content_problem(frame.body, frame.meta, frame.attachments, limits)
    if problem is not None:
        raise ProtocolError(*problem, frame.id)
    return frame


def _check_body_meta(frame: Send | Edit, body: str, meta: dict[str, Any] | None,
                     limits: Limits) -> None:
    problem = content_problem(body, meta, None, limits)
    if problem is not None:
        raise ProtocolError(*problem, frame.id)


def content_problem(body: str, meta: dict[str, Any] | None,
                    attachments: Sequence[Attachment] | None,
                    limits: Limits) -> tuple[ErrorCode, str] | None:
    """What is wrong with a message's content, as an error code and its message, or
    None: the one rule set of a message's body, meta and attachments (an edit's, without
    attachments), for the WebSocket and the HTTP API alike."""
    if "\x00" in body:
        return ErrorCode.BAD_REQUEST, "body must not contain the character U+0000"
    try:
        size = len(body.encode())
    except UnicodeEncodeError:
        # Only reachable for frames built in Python: decoders reject lone surrogates.
        return ErrorCode.BAD_REQUEST, "body is not valid Unicode"
    if size > limits.max_body:
        return (ErrorCode.TOO_LARGE,
                f"body is {size} bytes, more than the limit of {limits.max_body}")
    meta_size = 0
    if meta is not None:
        if not _is_json_value(meta):
            return ErrorCode.BAD_REQUEST, "meta must hold only JSON values"
        if has_nul(meta):
            return ErrorCode.BAD_REQUEST, "meta must not contain the character U+0000"
        try:
            meta_size = len(msgspec.json.encode(meta))
        except (TypeError, ValueError, OverflowError, UnicodeEncodeError):
            return ErrorCode.BAD_REQUEST, "meta must hold only JSON values"
        if meta_size > limits.max_meta:
            return (ErrorCode.TOO_LARGE, f"meta is {meta_size} bytes as JSON, more than the "
                    f"limit of {limits.max_meta}")
    if attachments is None:
        return None
    if len(attachments) > MAX_ATTACHMENTS:
        return ErrorCode.BAD_REQUEST, f"at most {MAX_ATTACHMENTS} attachments"
    for attachment in attachments:
        problem = attachment_problem(attachment)
        if problem is not None:
            return ErrorCode.BAD_REQUEST, problem
    # Attachments count against the meta limit: they are the message's metadata.
    size = len(msgspec.json.encode(attachments)) + meta_size
    if size > limits.max_meta:
        return (ErrorCode.TOO_LARGE, f"meta and attachments are {size} bytes as JSON, more "
                f"than the limit of {limits.max_meta}")
    return None


def is_https_url(value: object) -> bool:
    """Whether ``value`` is an https URL of at most 2048 ASCII characters, with a host
    and no whitespace or control characters."""
    return (isinstance(value, str) and len(value) <= MAX_URL_LENGTH
            and HTTPS_URL_PATTERN.fullmatch(value) is not None)


def attachment_problem(attachment: Attachment) -> str | None:
    """What is wrong with one attachment, or None. Shared by the WebSocket and the HTTP
    API."""
    if not is_https_url(attachment.url):
        return "attachment url must be an https URL of at most 2048 characters"
    if MIME_TYPE_PATTERN.fullmatch(attachment.type) is None:
        return "attachment type must be a MIME type such as image/jpeg"
    if attachment.size < 0:
        return "attachment size must be >= 0 (bytes)"
    if attachment.name is not None and (
        not 1 <= len(attachment.name) <= MAX_ATTACHMENT_NAME
        or "\x00" in attachment.name
    ):
        return f"attachment name must be 1..{MAX_ATTACHMENT_NAME} characters, no U+0000"
    for name in ("width", "height", "duration_ms"):
        value = getattr(attachment, name)
        if value is not None and value < 0:
            return f"attachment {name} must be >= 0"
    if attachment.thumb is not None and not is_https_url(attachment.thumb):
        return "attachment thumb must be an https URL of at most 2048 characters"
    return None


def emoji_problem(emoji: str) -> str | None:
    """What is wrong with a reaction's emoji, or None."""
    if not emoji or len(emoji.encode("utf-8", "surrogatepass")) > MAX_EMOJI_BYTES:
        return f"emoji must be 1..{MAX_EMOJI_BYTES} bytes as UTF-8"
    # Joiners and variation selectors are not "printable" to Python, yet they make up
    # emoji such as family sequences: only control characters and spaces are refused.
    if any(unicodedata.category(c) == "Cc" or c.isspace() for c in emoji):
        return "emoji must not contain control characters or spaces"
    return None


def _check_target(frame: Edit | Unsend | React) -> None:
    _check_thread(frame, frame.thread)
    if frame.seq < 1:
        raise _bad(frame, "seq must be the seq of a message (>= 1)")


def _validate_edit(frame: Edit, limits: Limits) -> Edit:
    _check_target(frame)
    _check_body_meta(frame, frame.body, frame.meta, limits)
    return frame


def _validate_unsend(frame: Unsend, limits: Limits) -> Unsend:
    _check_target(frame)
    return frame


def _validate_react(frame: React, limits: Limits) -> React:
    _check_target(frame)
    problem = emoji_problem(frame.emoji)
    if problem is not None:
        raise _bad(frame, problem)
    return frame


def title_problem(title: str, limits: Limits) -> tuple[ErrorCode, str] | None:
    """What is wrong with a group's title, or None: ``bad_request`` for an empty one or
    one with control characters, ``too_large`` past ``limits.max_title`` characters. Shared by the
    WebSocket and the HTTP API."""
    if not title or any(unicodedata.category(c) == "Cc" for c in title):
        return ErrorCode.BAD_REQUEST, "title must be 1 or more characters, no control ones"
    if len(title) > limits.max_title:
        return (ErrorCode.TOO_LARGE,
                f"title is {len(title)} characters, more than the limit of {limits.max_title}")
    return None


def users_problem(users: list[str], limits: Limits, name: str) -> tuple[ErrorCode, str] | None:
    """What is wrong with a list of users to add or remove, or None."""
    if any(not is_user_id(u) for u in users):
        return (ErrorCode.BAD_REQUEST,
                f"{name} must list user ids: 1..64 characters of [A-Za-z0-9_.@+-]")
    if len(users) > limits.max_group:
        return ErrorCode.TOO_LARGE, f"a group has at most {limits.max_group} members"
    return None


def _raise(frame: ClientFrame, problem: tuple[ErrorCode, str] | None) -> None:
    if problem is not None:
        raise ProtocolError(problem[0], problem[1], frame.id)


def _validate_create(frame: Create, limits: Limits) -> Create:
    if not frame.members:
        raise _bad(frame, "members must name at least one user besides you")
    _raise(frame, users_problem(frame.members, limits, "members"))
    if frame.title is not None:
        _raise(frame, title_problem(frame.title, limits))
    return frame


def _validate_members(frame: Members, limits: Limits) -> Members:
    _check_thread(frame, frame.thread)
    if not frame.add and not frame.remove:
        raise _bad(frame, "members needs users to add or remove")
    _raise(frame, users_problem(frame.add, limits, "add"))
    _raise(frame, users_problem(frame.remove, limits, "remove"))
    return frame


def _validate_leave(frame: Leave, limits: Limits) -> Leave:
    _check_thread(frame, frame.thread)
    return frame


def _validate_rename(frame: Rename, limits: Limits) -> Rename:
    _check_thread(frame, frame.thread)
    _raise(frame, title_problem(frame.title, limits))
    return frame


def _validate_block(frame: Block, limits: Limits) -> Block:
    if not is_user_id(frame.user):
        raise _bad(frame, "user must be a user id: 1..64 characters of [A-Za-z0-9_.@+-]")
    return frame


def _validate_mute(frame: Mute, limits: Limits) -> Mute:
    _check_thread(frame, frame.thread)
    if frame.until is not None and (not frame.on or frame.until < 1):
        raise _bad(frame, "until is an epoch-ms time (>= 1), only with on: true")
    return frame


def _validate_typing(frame: Typing, limits: Limits) -> Typing:
    _check_thread(frame, frame.thread)
    return frame


def _validate_read(frame: Read, limits: Limits) -> Read:
    _check_thread(frame, frame.thread)
    if frame.seq < 0:
        raise _bad(frame, "seq must be >= 0")
    return frame


def _validate_history(frame: History, limits: Limits) -> History:
    _check_thread(frame, frame.thread)
    if frame.before is not None and frame.before < 1:
        raise _bad(frame, "before must be >= 1")
    if frame.limit < 1:
        raise _bad(frame, "limit must be >= 1")
    if frame.limit > limits.max_history:
        return msgspec.structs.replace(frame, limit=limits.max_history)
    return frame


def _validate_threads(frame: ListThreads, limits: Limits) -> ListThreads:
    if frame.after is not None:
        _check_thread(frame, frame.after)
    if frame.limit < 1:
        raise _bad(frame, "limit must be >= 1")
    if frame.limit > limits.max_threads:
        return msgspec.structs.replace(frame, limit=limits.max_threads)
    return frame


def _validate_sync(frame: Sync, limits: Limits) -> Sync:
    if frame.cursor is not None:
        check_cursor(frame.cursor, frame.id)
    return frame


def _validate_like(frame: Like, limits: Limits) -> Like:
    if not is_post_id(frame.post):
        raise _bad(frame, "post must be 1..128 characters of [A-Za-z0-9_.:@+-]")
    return frame


def _validate_topic(frame: Subscribe | Unsubscribe, limits: Limits) -> Any:
    parse_topic(frame.topic, frame.id)
    return frame


def _validate_device(frame: Device, limits: Limits) -> Device:
    if frame.platform not in PLATFORMS:
        raise _bad(frame, "platform must be one of android, ios, web")
    _check_length(frame, "token", frame.token, MAX_DEVICE_TOKEN_LENGTH)
    _check_no_nul(frame, "token", frame.token)
    return frame


def _validate_refresh(frame: Refresh, limits: Limits) -> Refresh:
    _check_length(frame, "token", frame.token, MAX_REFRESH_TOKEN_LENGTH)
    return frame


def _no_rules(frame: Any, limits: Limits) -> Any:
    return frame


_RULES: Final[dict[type, Callable[[Any, Limits], Any]]] = {
    Send: _validate_send,
    Typing: _validate_typing,
    Read: _validate_read,
    History: _validate_history,
    Sync: _validate_sync,
    ListThreads: _validate_threads,
    Like: _validate_like,
    Subscribe: _validate_topic,
    Unsubscribe: _validate_topic,
    Device: _validate_device,
    Refresh: _validate_refresh,
    Ping: _no_rules,
    Edit: _validate_edit,
    Unsend: _validate_unsend,
    React: _validate_react,
    Create: _validate_create,
    Members: _validate_members,
    Leave: _validate_leave,
    Rename: _validate_rename,
    Block: _validate_block,
    Mute: _validate_mute,
}
