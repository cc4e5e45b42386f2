"""Error codes, close codes and the exception raised when a peer breaks the protocol.

The hierarchy is deliberately small::

    Exception
     └── ProtocolError    the peer sent something the contract forbids: an undecodable
                          or invalid frame, a missing permission, an oversized body...
                          It carries a stable ErrorCode, a short human-readable message
                          and the request id of the frame it answers, so that the
                          server can reply with an ``error`` frame and keep the
                          connection open.

Anything else raised while handling a frame is a bug on our side, not the peer's: it is
answered with ``internal`` and no details (the details go to the log).
"""

from __future__ import annotations

import enum

__all__ = ["CloseCode", "ErrorCode", "ProtocolError"]


class ErrorCode(enum.StrEnum):
    """Stable error codes carried by ``error`` frames and HTTP error bodies."""

    BAD_REQUEST = "bad_request"
    """Undecodable or invalid frame."""
    UNAUTHORIZED = "unauthorized"
    """Missing, invalid or expired token."""
    FORBIDDEN = "forbidden"
    """Not a member, or not allowed."""
    NOT_FOUND = "not_found"
    """The thing named does not exist (HTTP API only: the WebSocket says forbidden)."""
    TOO_LARGE = "too_large"
    """A frame, body or meta is larger than the configured limit."""
    RATE_LIMITED = "rate_limited"
    """Too many requests: slow down."""
    UNAVAILABLE = "unavailable"
    """A dependency is down: retry later."""
    INTERNAL = "internal"
    """A bug on the server's side."""


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server uses, and what a client should do on each."""

    NORMAL = 1000
    """Normal closure."""
    GOING_AWAY = 1001
    """The node is shutting down."""
    PROTOCOL_ERROR = 1002
    """The client broke RFC 6455 (an unmasked frame, a bad opcode or fragment)."""
    INVALID_DATA = 1007
    """A text frame that is not UTF-8."""
    POLICY_VIOLATION = 1008
    """Token expired, or repeated abuse."""
    MESSAGE_TOO_BIG = 1009
    """A frame was larger than ``max_frame``."""
    INTERNAL_ERROR = 1011
    """A bug on the server's side."""
    SERVICE_RESTART = 1012
    """The node is draining: reconnect elsewhere, with the last cursor."""
    TRY_AGAIN_LATER = 1013
    """Overloaded, or too slow to keep up: reconnect later, with the last cursor."""


class ProtocolError(Exception):
    """Raised when a peer's frame or request breaks the protocol.

    ``code`` is the stable :class:`ErrorCode` to send back, ``message`` a short
    explanation for humans, and ``request_id`` the ``id`` of the frame being answered,
    or ``None`` when there is none (or it could not be recovered).
    """

    code: ErrorCode
    message: str
    request_id: int | str | None

    def __init__(self, code: ErrorCode, message: str, request_id: int | str | None = None) -> None:
        super().__init__(code, message, request_id)
        self.code = code
        self.message = message
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"ProtocolError({str(self.code)!r}, {self.message!r}, request_id={self.request_id!r})"
        )
