"""The send queue between a session and its socket, on a socket whose writes go through,
block (a peer that stops reading) or fail (a peer gone mid-write).

The socket is a stand-in with aiohttp's three write calls: what these tests pin is the
queue's own accounting (bytes, limit, order) and how it closes, which a real peer cannot
be made to show on demand.
"""

from __future__ import annotations

import asyncio

from aiohttp import WSMsgType

from protocol.errors import CloseCode
from realtime.send_queue import SendQueue


class Socket:
    """Records frames; ``blocked`` holds every write until released; ``failure`` is
    raised by the next write."""

    _req = None  # no transport to abort

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.opcodes: list[WSMsgType] = []
        self.blocked: asyncio.Event | None = None
        self.failure: Exception | None = None
        self.closed_with: tuple[int, bytes] | None = None

    async def send_frame(self, data: bytes, opcode: WSMsgType) -> None:
        if self.failure is not None:
            raise self.failure
        if self.blocked is not None:
            await self.blocked.wait()
        self.frames.append(data)
        self.opcodes.append(opcode)

    async def ping(self) -> None:
        self.frames.append(b"<ping>")

    async def pong(self, data: bytes) -> None:
        self.frames.append(b"<pong>")

    async def close(self, *, code: int, message: bytes) -> bool:
        self.closed_with = (code, message)
        return True

    def block(self) -> None:
        self.blocked = asyncio.Event()

    def release(self) -> None:
        assert self.blocked is not None
        self.blocked.set()


def queue_on(socket: Socket, *, max_bytes: int = 10, binary: bool = True,
             overflows: list[int] | None = None) -> SendQueue:
    seen = overflows if overflows is not None else []
    return SendQueue(socket, binary=binary, max_bytes=max_bytes,  # type: ignore[arg-type]
                     on_overflow=lambda: seen.append(1))


async def test_a_frame_on_an_idle_queue_is_written_at_once_with_its_opcode() -> None:
    socket = Socket()
    queue = queue_on(socket, binary=False)
    assert queue.put(b"one")
    assert socket.frames == [b"one"] and socket.opcodes == [WSMsgType.TEXT]
    assert queue.idle and queue.size == 0 and queue.written == 1


async def test_frames_behind_a_blocked_write_wait_in_order_and_count_their_bytes() -> None:
    socket = Socket()
    socket.block()
    queue = queue_on(socket)
    assert queue.put(b"a")  # written at once, and stuck
    assert queue.put(b"bb") and queue.put(b"ccc")
    assert queue.size == 5 and not queue.idle
    socket.release()
    queue.close(CloseCode.NORMAL, flush=True)
    await queue.wait_closed()
    assert socket.frames == [b"a", b"bb", b"ccc"]
    assert queue.size == 0 and queue.written == 3


async def test_a_queue_filled_exactly_to_its_limit_takes_the_frame_and_one_byte_more_overflows(
) -> None:
    socket = Socket()
    socket.block()
    overflows: list[int] = []
    queue = queue_on(socket, max_bytes=10, overflows=overflows)
    queue.put(b"x")  # in the socket, not counted
    assert queue.put(b"y" * 10)
    assert queue.size == 10 and overflows == []
    assert not queue.put(b"z")
    assert overflows == [1] and queue.size == 10


async def test_a_frame_larger_than_the_limit_is_never_written_even_to_an_idle_queue() -> None:
    socket = Socket()
    overflows: list[int] = []
    queue = queue_on(socket, max_bytes=10, overflows=overflows)
    assert not queue.put(b"x" * 11)
    assert socket.frames == [] and overflows == [1]
    assert queue.put(b"x" * 10)
    assert socket.frames == [b"x" * 10]


async def test_a_close_sends_its_code_and_reason_and_the_first_close_wins() -> None:
    socket = Socket()
    queue = queue_on(socket)
    queue.close(CloseCode.TRY_AGAIN_LATER, "too slow: reconnect and sync")
    queue.close(CloseCode.NORMAL, "later")
    await queue.wait_closed()
    assert socket.closed_with == (CloseCode.TRY_AGAIN_LATER, b"too slow: reconnect and sync")
    assert queue.closing and not queue.put(b"after")


async def test_a_close_without_flush_drops_what_is_queued() -> None:
    socket = Socket()
    socket.block()
    queue = queue_on(socket)
    queue.put(b"a")
    queue.put(b"dropped")
    queue.close(CloseCode.GOING_AWAY, "bye")
    assert queue.size == 0
    socket.release()
    await queue.wait_closed()
    assert socket.frames == [b"a"]
    assert socket.closed_with == (CloseCode.GOING_AWAY, b"bye")


async def test_a_write_that_fails_closes_the_queue_with_1011() -> None:
    socket = Socket()
    socket.failure = ConnectionResetError("peer gone")
    queue = queue_on(socket)
    queue.put(b"a")
    assert queue.closing
    await queue.wait_closed()
    assert socket.closed_with is not None and socket.closed_with[0] == CloseCode.INTERNAL_ERROR


async def test_a_queued_write_that_fails_closes_the_queue_with_1011() -> None:
    socket = Socket()
    socket.block()
    queue = queue_on(socket)
    queue.put(b"a")
    queue.put(b"b")
    socket.failure = ConnectionResetError("peer gone")
    socket.release()
    await queue.wait_closed()
    assert socket.closed_with is not None and socket.closed_with[0] == CloseCode.INTERNAL_ERROR
    assert socket.frames == [b"a"]


async def test_a_bulk_sender_waits_until_half_the_limit_is_queued() -> None:
    socket = Socket()
    socket.block()
    queue = queue_on(socket, max_bytes=10)
    queue.put(b"a")
    queue.put(b"b" * 6)  # more than half of 10
    waiting = asyncio.ensure_future(queue.roomy())
    await asyncio.sleep(0)
    assert not waiting.done()
    socket.release()
    await waiting
    assert queue.size <= 5


async def test_pings_and_pongs_wait_for_no_one_and_are_skipped_behind_queued_frames() -> None:
    socket = Socket()
    queue = queue_on(socket)
    queue.ping()
    queue.pong(b"p")
    assert socket.frames == [b"<ping>", b"<pong>"]
    socket.block()
    queue.put(b"a")
    queue.ping()
    queue.pong(b"p")
    socket.release()
    queue.close(CloseCode.NORMAL, flush=True)
    await queue.wait_closed()
    assert socket.frames == [b"<ping>", b"<pong>", b"a"]


async def test_every_frame_handed_to_the_socket_is_counted() -> None:
    socket = Socket()
    queue = queue_on(socket)
    queue.put(b"a")
    queue.put(b"b")
    assert queue.written == 2


async def test_a_failed_write_closes_with_1011_and_no_reason() -> None:
    socket = Socket()
    socket.failure = ConnectionResetError("peer gone")
    queue = queue_on(socket)
    queue.put(b"a")
    await queue.wait_closed()
    assert socket.closed_with == (CloseCode.INTERNAL_ERROR, b"")


async def test_a_bulk_sender_is_not_held_by_a_closing_queue() -> None:
    socket = Socket()
    socket.block()
    queue = queue_on(socket, max_bytes=10)
    queue.put(b"a")
    queue.put(b"b" * 8)
    queue.close(CloseCode.GOING_AWAY, flush=True)
    waiting = asyncio.ensure_future(queue.roomy())
    await asyncio.sleep(0)
    assert waiting.done()
    socket.release()
    await queue.wait_closed()


async def test_a_close_while_a_write_is_stuck_cuts_the_connection_off() -> None:
    socket = Socket()
    socket.block()  # never released: the peer stopped reading
    queue = SendQueue(socket, binary=True, max_bytes=10,  # type: ignore[arg-type]
                      on_overflow=lambda: None, close_timeout=0.01)
    queue.put(b"a")
    queue.put(b"b")
    queue.close(CloseCode.TRY_AGAIN_LATER, "too slow")
    await queue.wait_closed()
    assert queue.closing and socket.closed_with is None  # aborted, no close frame
    assert socket.frames == []
