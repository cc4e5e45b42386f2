"""Sealed cursors: what a client holds says where it stands, to the cluster only.

A cursor names positions in the store's log of all messages, and a position is a count
of the cluster's messages: handed out as it is, every cursor would tell every user how
much traffic the whole service carries. So each cursor leaves the node sealed: encrypted
and authenticated with AES-SIV under a key every node of the cluster shares (derived
from ``cursor_secret``, or from the API key when that is unset). The seal is
deterministic, so every member of a thread gets the same text for the same position and
a frame is still encoded once for all of them; a sealed cursor that was altered, or made
with another key, is refused as ``bad_request``.

The plain cursors of earlier versions (``"1234"``, ``"1234~..."``) are still accepted
unless ``legacy`` is off: a client that held one across the upgrade loses nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from protocol.cursor import SEALED_PREFIX, Cursor, is_sealed, parse_cursor
from protocol.errors import ErrorCode, ProtocolError

__all__ = ["CursorSeal"]

_CONTEXT = b"realtime cursor seal v1"


class CursorSeal:
    """Seals cursor texts for clients and opens what clients send back."""

    __slots__ = ("_aead", "_last_plain", "_last_sealed", "_legacy")

    def __init__(self, secret: str, *, legacy: bool = True) -> None:
        # 32 bytes: AES-128 in SIV mode (one key to authenticate, one to encrypt).
        key = hmac.new(secret.encode(), _CONTEXT, hashlib.sha256).digest()
        self._aead = AESSIV(key)
        self._legacy = legacy
        self._last_plain = ""
        self._last_sealed = ""

    def seal(self, plain: str) -> str:
        """The text a client gets for the cursor ``plain`` (see ``protocol.cursor``)."""
        if plain == self._last_plain:
            # One node delivers a message to every member with the same cursor: sealed
            # once for all of them.
            return self._last_sealed
        payload = self._aead.encrypt(plain.encode(), None)
        sealed = SEALED_PREFIX + base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        self._last_plain, self._last_sealed = plain, sealed
        return sealed

    def open(self, text: str, request_id: int | str | None = None) -> Cursor:
        """The cursor a client sent. Raises :class:`ProtocolError` ``bad_request`` for a
        malformed one, a sealed one this cluster did not make, or (``legacy`` off) a plain
        one."""
        if is_sealed(text):
            body = text[len(SEALED_PREFIX):]
            try:
                plain = self._aead.decrypt(
                    base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)), None).decode()
            except (InvalidTag, ValueError, binascii.Error):
                raise ProtocolError(ErrorCode.BAD_REQUEST, "cursor was not issued here",
                                    request_id) from None
            return parse_cursor(plain, request_id)
        if not self._legacy:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "malformed cursor", request_id)
        return parse_cursor(text, request_id)
