"""The bounded queue between a session and its socket, drained by one writer task.

Whoever delivers to a session only appends here and never waits: one slow reader can
never stall a sender or anyone else. A queue that passes its byte limit asks its owner
to disconnect the client (1013: reconnect and sync), so memory stays bounded.

The writer task runs only while there is something to write or a close to make, so an
idle connection holds no task. It is also the only place that closes the socket, so a
close always comes after (or instead of) the frames queued before it, and never races
a send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

from aiohttp import web

from protocol.errors import CloseCode

log = logging.getLogger(__name__)


class SendQueue:
    """Frames waiting to be written to one WebSocket, at most ``max_bytes`` of them.

    Sizes count characters for text frames and bytes for binary ones: close enough to
    bound memory without encoding twice.
    """

    __slots__ = ("_close", "_close_timeout", "_closed", "_items", "_max_bytes",
                 "_on_overflow", "_roomy", "_size", "_write_deadline", "_writer", "_ws")

    def __init__(
        self,
        ws: web.WebSocketResponse,
        *,
        max_bytes: int,
        on_overflow: Callable[[], None],
        close_timeout: float = 2.0,
    ) -> None:
        self._ws = ws
        self._max_bytes = max_bytes
        self._on_overflow = on_overflow
        self._close_timeout = close_timeout
        self._items: deque[bytes | str] | None = None
        self._size = 0
        self._writer: asyncio.Task[None] | None = None
        self._roomy: asyncio.Event | None = None
        """Created by the first bulk sender that has to wait for room."""
        self._close: tuple[int, str, bool] | None = None
        self._closed = False
        self._write_deadline: asyncio.Timeout | None = None
        """Set while the writer awaits a write; a close moves its deadline."""

    @property
    def size(self) -> int:
        """Bytes waiting to be written."""
        return self._size

    @property
    def closing(self) -> bool:
        return self._close is not None

    def put(self, data: bytes | str) -> bool:
        """Queue a frame. Returns False (and drops it) when closing or over the limit."""
        if self._close is not None:
            return False
        size = len(data)
        if self._size + size > self._max_bytes:
            self._on_overflow()
            return False
        if self._items is None:
            self._items = deque()
        self._items.append(data)
        self._size += size
        self._start_writer()
        return True

    async def roomy(self) -> None:
        """Wait until at most half the limit is queued: backpressure for bulk senders (replay)."""
        if self._size <= self._max_bytes // 2 or self._close is not None:
            return
        if self._roomy is None:
            self._roomy = asyncio.Event()
        self._roomy.clear()
        await self._roomy.wait()

    def close(self, code: int, reason: str = "", *, flush: bool = False) -> None:
        """Ask the writer to close the socket with ``code``: after the queued frames when
        ``flush``, else at once (dropping them). The first request wins."""
        if self._close is not None:
            return
        self._close = (code, reason, flush)
        if not flush:
            if self._items:
                self._items.clear()
            self._size = 0
            if self._write_deadline is not None:
                # The writer is blocked mid-frame on a peer that does not read (a write
                # only waits when the transport is paused): give it the close timeout to
                # catch up, then cut it off, or the connection would never end.
                loop = asyncio.get_running_loop()
                self._write_deadline.reschedule(loop.time() + self._close_timeout)
        self._wake_bulk_sender()
        self._start_writer()

    async def wait_closed(self) -> None:
        """Return once the socket was closed (call :meth:`close` first)."""
        while self._writer is not None:
            await asyncio.shield(self._writer)

    def _start_writer(self) -> None:
        if self._writer is None and not self._closed:
            self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        """Write what is queued, then close if asked; the task ends when nothing is left."""
        try:
            await self._write_queued()
        except TimeoutError:
            # Closed while a write was stuck past the close timeout: see close().
            log.debug("peer stopped reading; aborting the connection")
            self._abort()
            self._closed = True
        except (ConnectionError, RuntimeError) as exc:
            # The peer went away mid-write; the reader sees the close and ends the session.
            log.debug("write failed: %s", exc)
            self._close = self._close or (CloseCode.INTERNAL_ERROR, "", False)
        finally:
            self._wake_bulk_sender()
        if self._close is not None and not self._closed:
            self._closed = True
            await self._close_socket()
        # Nothing was queued between the last check and here (no await since): a later
        # put() starts a new writer, with a new deque (an idle connection keeps none).
        if not self._items:
            self._items = None
        self._writer = None

    async def _write_queued(self) -> None:
        ws = self._ws
        items = self._items
        if items is None:
            return
        # One deadline per batch of frames, not per frame: it only matters when a write
        # blocks, and close() can then reschedule it.
        try:
            async with asyncio.timeout(None) as self._write_deadline:
                while items:
                    data = items.popleft()
                    self._size -= len(data)
                    if isinstance(data, str):
                        await ws.send_str(data)
                    else:
                        await ws.send_bytes(data)
                    if self._roomy is not None and self._size <= self._max_bytes // 2:
                        self._roomy.set()
        finally:
            self._write_deadline = None

    def _wake_bulk_sender(self) -> None:
        if self._roomy is not None:
            self._roomy.set()

    async def _close_socket(self) -> None:
        assert self._close is not None
        code, reason, _ = self._close
        try:
            async with asyncio.timeout(self._close_timeout):
                await self._ws.close(code=code, message=reason.encode()[:120])
        except (TimeoutError, ConnectionError, RuntimeError):
            # A client that never reads keeps the close frame from draining: cut it off.
            self._abort()

    def _abort(self) -> None:
        transport = self._transport()
        if transport is not None:
            transport.abort()

    def _transport(self) -> asyncio.BaseTransport | None:
        with contextlib.suppress(AttributeError):
            req = self._ws._req  # aiohttp keeps the request; its transport is the socket
            if req is not None:
                return req.transport
        return None
