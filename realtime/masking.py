"""Client frames must be masked (RFC 6455, section 5.1): a server closes the connection
with 1002 on the first one that is not.

aiohttp's reader accepts unmasked frames, so :func:`guard` puts a :class:`MaskCheck` in
front of it: a pure tracker of frame boundaries in the byte stream, which looks at each
frame's header and skips its payload. Only the bytes before the offending frame reach
the reader; after it, nothing does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web


class MaskCheck:
    """Follows the frames of a client's byte stream, chunk by chunk; :meth:`feed` returns
    how many bytes of a chunk belong to masked frames (the whole chunk when all are)."""

    __slots__ = ("_head", "_skip", "failed")

    def __init__(self) -> None:
        self._skip = 0
        """Bytes of the current frame (mask key and payload) still to pass."""
        self._head = b""
        """The start of a frame header cut by the end of a chunk."""
        self.failed = False

    def feed(self, data: bytes) -> int:
        if self.failed:
            return 0
        n = len(data)
        i = 0
        while i < n:
            if self._skip:
                take = min(self._skip, n - i)
                self._skip -= take
                i += take
                continue
            start = i - len(self._head)
            head = self._head + data[i:i + 14]
            if len(head) < 2:
                self._head, i = head, n
                break
            second = head[1]
            length = second & 0x7F
            extra = 2 if length == 126 else 8 if length == 127 else 0
            if len(head) < 2 + extra:
                self._head, i = head, n
                break
            if not second & 0x80:
                self.failed = True
                return max(start, 0)
            if extra:
                length = int.from_bytes(head[2:2 + extra], "big")
            used = 2 + extra - len(self._head)  # header bytes taken from this chunk
            self._head = b""
            i += used
            self._skip = 4 + length  # the mask key, then the payload
        return n


class _Guarded:
    """aiohttp's WebSocket reader behind a :class:`MaskCheck`."""

    __slots__ = ("_check", "_on_unmasked", "_reader")

    def __init__(self, reader: Any, on_unmasked: Callable[[], None]) -> None:
        self._reader = reader
        self._check = MaskCheck()
        self._on_unmasked = on_unmasked

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self._check.failed:
            return False, b""
        ok = self._check.feed(data)
        result: tuple[bool, bytes] = (False, b"")
        if ok:
            result = self._reader.feed_data(data if ok == len(data) else data[:ok])
        if self._check.failed:
            self._on_unmasked()
            self._reader.feed_eof()
        return result

    def feed_eof(self) -> None:
        self._reader.feed_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)


def guard(request: web.Request, on_unmasked: Callable[[], None]) -> None:
    """After the handshake of ``request``: call ``on_unmasked`` (and end the stream of
    messages) at the client's first unmasked frame."""
    # aiohttp offers no hook for this: its protocol object holds the reader it feeds.
    protocol = request.protocol
    reader = getattr(protocol, "_payload_parser", None)
    if reader is not None:
        protocol._payload_parser = _Guarded(reader, on_unmasked)
