"""The bounded queue between a session and its socket, drained by one writer task.

Whoever delivers to a session only appends here and never waits: one slow reader can
never stall a sender or anyone else. A queue that passes its byte limit asks its owner
to disconnect the client (1013: reconnect and sync), so memory stays bounded.

A frame put on an empty queue is written at once, in the caller's step: a write to a
socket whose buffer has room never waits, and a task per frame would cost more than
the write itself. Only when a write has to wait (the peer reads slowly) does the
writer task take over, and frames queue behind it in order. The writer runs only while
there is something to write or a close to make, so an idle connection holds no task.
It is also the only place that closes the socket, so a close always comes after (or
instead of) the frames queued before it, and never races a send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import WSMsgType, web

from protocol.errors import CloseCode
from realtime.eager import Suspended

log = logging.getLogger(__name__)


class SendQueue:
    """Frames waiting to be written to one WebSocket, at most ``max_bytes`` of them.

    Every frame is an encoded payload, sent as a binary frame when ``binary``, else as
    a text frame (the payload is then UTF-8).
    """

    __slots__ = ("_close", "_close_timeout", "_closed", "_items", "_max_bytes",
                 "_on_overflow", "_opcode", "_roomy", "_size", "_unfinished",
                 "_write_deadline", "_writer", "_ws", "written")

    def __init__(
        self,
        ws: web.WebSocketResponse,
        *,
        binary: bool,
        max_bytes: int,
        on_overflow: Callable[[], None],
        close_timeout: float = 2.0,
    ) -> None:
        self._ws = ws
        self._opcode = WSMsgType.BINARY if binary else WSMsgType.TEXT
        self._max_bytes = max_bytes
        self._on_overflow = on_overflow
        self._close_timeout = close_timeout
        self._items: deque[bytes] | None = None
        self._size = 0
        self._writer: asyncio.Task[None] | None = None
        self._roomy: asyncio.Event | None = None
        """Created by the first bulk sender that has to wait for room."""
        self._close: tuple[int, str, bool] | None = None
        self._closed = False
        self._write_deadline: asyncio.Timeout | None = None
        """Set while the writer awaits a write; a close moves its deadline."""
        self._unfinished: Suspended | None = None
        """A write begun at once that had to wait: the writer finishes it first."""
        self.written = 0
        """Frames handed to the socket so far: a client that reads makes it grow."""

    @property
    def size(self) -> int:
        """Bytes waiting to be written."""
        return self._size

    @property
    def max_bytes(self) -> int:
        """The connection's byte limit."""
        return self._max_bytes

    @property
    def closing(self) -> bool:
        return self._close is not None

    @property
    def idle(self) -> bool:
        """Nothing waits to be written: a client that is not reading cannot show here."""
        return self._writer is None

    def put(self, data: bytes) -> bool:
        """Queue a frame. Returns False (and drops it) when closing or over the limit."""
        if self._close is not None:
            return False
        size = len(data)
        if self._writer is None and not self._closed and size <= self._max_bytes:
            # Nothing queued (the writer drains the queue before it ends): write now. A
            # frame larger than the whole limit is never written, even to an idle queue.
            self.written += 1
            self._drive(self._ws.send_frame(data, self._opcode))
            return True
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

    def ping(self) -> None:
        """Send a keepalive ping now, unless frames are waiting (the peer is not reading:
        a ping behind them proves nothing) or the queue is closing."""
        if self._writer is None and self._close is None and not self._closed:
            self._drive(self._ws.ping())

    def pong(self, data: bytes) -> None:
        """Answer a client's ping now, unless frames are waiting or the queue is closing."""
        if self._writer is None and self._close is None and not self._closed:
            self._drive(self._ws.pong(data))

    def _drive(self, write: Coroutine[Any, Any, None]) -> None:
        """Run a write of aiohttp's in this step; a write that must wait goes on in the
        writer task."""
        try:
            waiting_on = write.send(None)
        except StopIteration:
            return
        except Exception as exc:
            # As in the writer: the peer went away mid-write, and the reader sees the close.
            log.debug("write failed: %r", exc)
            self._close = (CloseCode.INTERNAL_ERROR, "", False)
            self._start_writer()
            return
        # The transport is paused (or the frame is compressed in a thread): the frame is
        # in the transport's buffer, and the writer task waits for it to drain before it
        # writes anything queued after it.
        self._unfinished = Suspended(write, waiting_on)
        self._start_writer()

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
        if self._closed:
            # Nothing will be queued any more, so the owner's callback (the one
            # reference back to its session) can go: see Feed.close.
            self._on_overflow = _closed
        # Nothing was queued between the last check and here (no await since): a later
        # put() starts a new writer, with a new deque (an idle connection keeps none).
        if not self._items:
            self._items = None
        self._writer = None

    async def _write_queued(self) -> None:
        ws = self._ws
        unfinished, self._unfinished = self._unfinished, None
        if unfinished is None and not self._items:
            return
        # One deadline per batch of frames, not per frame: it only matters when a write
        # blocks, and close() can then reschedule it.
        try:
            async with asyncio.timeout(None) as self._write_deadline:
                if self._close is not None and not self._close[2]:
                    # Closed before this task first ran: close() found no deadline to move.
                    loop = asyncio.get_running_loop()
                    self._write_deadline.reschedule(loop.time() + self._close_timeout)
                if unfinished is not None:
                    await unfinished
                items = self._items
                while items:
                    data = items.popleft()
                    self._size -= len(data)
                    await ws.send_frame(data, self._opcode)
                    self.written += 1
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

    def _transport(self) -> asyncio.Transport | None:
        with contextlib.suppress(AttributeError):
            req = self._ws._req  # aiohttp keeps the request; its transport is the socket
            if req is not None:
                return req.transport
        return None


def _closed() -> None:
    """What a closed queue calls instead of its owner: nothing."""
