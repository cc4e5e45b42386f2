"""`Feed`: the asyncio shell of one device's :class:`~realtime.delivery.machine.DeliveryMachine`.

The machine decides what the device is sent (exactly once, in ``seq`` order per thread,
replay and live merged, gaps repaired); the feed hands it what arrives and carries out
its actions: frames into the send queue, fetches from the store in tasks it owns, and
the resync (1013) through the session's ``too_far``. Every message frame carries the
feed's cursor (see :mod:`protocol.cursor`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from protocol.codec import Codec
from protocol.cursor import Cursor
from protocol.frames import Message, ServerFrame, Synced, Update
from protocol.limits import Limits
from realtime.delivery.machine import (
    Action,
    DeliveryMachine,
    Emit,
    Fetch,
    ReplayDone,
    State,
)
from realtime.events import Delivery, MessageEvent, stored_frame, topic_of
from realtime.send_queue import SendQueue
from realtime.services.messaging import MessagingService
from realtime.store.base import StoredMessage, StoreUnavailable
from realtime.watermark import Watermark

log = logging.getLogger(__name__)

REPLAY_PAGE = 500
"""The most messages one replay page reads from the store."""
MESSAGE_OVERHEAD = 1024
"""Bytes a stored message costs beyond its body and meta (ids, cursor, framing), at most."""

__all__ = ["MESSAGE_OVERHEAD", "REPLAY_PAGE", "Feed", "State", "replay_page"]


def replay_page(limits: Limits) -> int:
    """Messages per replay page: as many of the largest messages a client may send as fit
    in half the connection's byte limit (the queue itself may hold the other half before
    the replay waits), between 1 and :data:`REPLAY_PAGE`. So what a replay holds, the page
    it read and the frames it queued, stays within the connection's limit."""
    largest = limits.max_body + limits.max_meta + MESSAGE_OVERHEAD
    return max(1, min(REPLAY_PAGE, limits.max_queue // 2 // largest))


class Feed:
    """The stream of events to one session. ``too_far`` is called (never blocking) when
    the client must reconnect and sync instead."""

    __slots__ = ("_codec", "_machine", "_messaging", "_ordered", "_page", "_queue",
                 "_repairs", "_seal", "_too_far", "_watermark", "user")

    def __init__(self, *, user: str, codec: Codec, queue: SendQueue,
                 messaging: MessagingService, watermark: Watermark,
                 too_far: Callable[[], None], page: int = REPLAY_PAGE,
                 seal: Callable[[str], str] = str) -> None:
        self.user = user
        self._codec = codec
        self._queue = queue
        self._messaging = messaging
        self._watermark = watermark
        self._too_far = too_far
        self._page = page
        self._seal = seal
        """Turns a cursor's text into what the client is given (see realtime.cursor_seal)."""
        self._ordered = watermark.ordered
        self._machine = DeliveryMachine(user, ordered=self._ordered)
        self._repairs: set[asyncio.Task[None]] | None = None

    @property
    def state(self) -> State:
        return self._machine.state

    def hold(self) -> None:
        """Hold events until the replay that follows releases them."""
        self._machine.hold()

    def start(self, head: int) -> None:
        """The client stands at ``head`` ("now"), as its ``welcome`` says."""
        self._machine.start(head)

    async def close(self) -> None:
        self._machine.close()
        if self._repairs:
            for task in self._repairs:
                task.cancel()
            await asyncio.gather(*self._repairs, return_exceptions=True)
        # ``too_far`` is the session's method: the one reference back to it. Without
        # it a closed session, and aiohttp's objects for its connection, are freed by
        # reference counting at once instead of waiting for a full collection, which
        # the node makes rare (realtime.gc_tuning).
        self._too_far = _closed

    # -- inputs ----------------------------------------------------------------------

    def deliver(self, delivery: Delivery) -> None:
        """An event for this user arrived (never blocks)."""
        event = delivery.event
        entry = event if isinstance(event, MessageEvent) else None
        machine = self._machine
        if machine.state is State.SYNCING:
            # Held events count toward the connection's byte limit like queued ones: a
            # client that stalls its replay cannot make the node hold more for it.
            queue = self._queue
            self._carry_out(machine.receive(
                delivery, entry, size=len(delivery.encoded(self._codec, self.user)),
                room=queue.max_bytes - queue.size))
        else:
            self._carry_out(machine.receive(delivery, entry, self._settled()))

    def forget_topic(self, topic: str) -> None:
        """Drop what is held of ``topic``: the session stopped following it, or is about
        to send its current state, which supersedes anything older."""
        def stale(item: object) -> bool:
            return isinstance(item, Delivery) and topic_of(item.event) == topic

        self._machine.drop_held(stale)

    def sending(self, cid: str) -> None:
        """This device sent ``cid``; until :meth:`sent`, the store may have it unacked."""
        self._machine.sending(cid)

    def sent(self, cid: str) -> None:
        self._machine.sent(cid)

    def acked(self, thread: str, seq: int) -> None:
        """This device sent ``seq`` and got (or is getting) its ack: not a gap for it."""
        self._machine.acked(thread, seq)

    def _settled(self) -> int:
        """The watermark's settled position, read only where the cursor needs it."""
        return 0 if self._ordered else self._watermark.settled()

    # -- actions ---------------------------------------------------------------------

    def _carry_out(self, actions: Sequence[Action], request_id: int | str | None = None,
                   ) -> None:
        for action in actions:
            if type(action) is Emit:
                self._emit(action)
            elif type(action) is Fetch:
                self._fetch(action)
            elif type(action) is ReplayDone:
                self._send(Synced(id=request_id, cursor=self._seal(action.cursor)))
            else:  # Resync
                self._too_far()

    def _emit(self, action: Emit) -> None:
        item, cursor = action.item, action.cursor
        if cursor is not None:
            cursor = self._seal(cursor)
        if isinstance(item, Delivery):
            if cursor is None:
                self._queue.put(item.encoded(self._codec, self.user))
            else:
                self._queue.put(item.encoded_with_cursor(self._codec, self.user, cursor))
        else:
            assert isinstance(item, StoredMessage) and cursor is not None
            encoded = self._codec.encode_server(self.message(item, cursor=None))
            self._queue.put(self._codec.with_field(encoded, "cursor", cursor))

    def _fetch(self, fetch: Fetch) -> None:
        task = asyncio.create_task(self._repair(fetch))
        if self._repairs is None:
            self._repairs = set()
        self._repairs.add(task)
        task.add_done_callback(self._repairs.discard)

    async def _repair(self, fetch: Fetch) -> None:
        """Read the range a gap misses from the store and hand it to the machine."""
        try:
            # Entries, not history: the changes between are owed as much as the messages.
            page = await self._messaging.store.entries(fetch.thread, fetch.after,
                                                       fetch.before)
        except StoreUnavailable:
            self._carry_out(self._machine.fetch_failed(fetch.thread))
            return
        except Exception:
            log.exception("feed of %s: reading a gap of %s failed", self.user, fetch.thread)
            self._carry_out(self._machine.fetch_failed(fetch.thread))
            return
        self._carry_out(self._machine.fetched(fetch.thread, page, self._settled()))

    # -- replay ----------------------------------------------------------------------

    async def replay(self, cursor: Cursor, request_id: int | str | None) -> None:
        """Send every message after ``cursor``, then ``synced``, then what was held.

        The feed was SYNCING before the first page was read, so a message committed at
        any point is either in a page or held; one in both is released only if the replay
        did not already carry its (thread, seq).
        """
        machine = self._machine
        machine.replay_started(cursor)
        queue = self._queue
        try:
            while True:
                page = await self._messaging.replay(self.user, machine.replayed_to,
                                                    self._page)
                for m in page:
                    # Backpressure per message, not per page: a page of large messages
                    # can be bigger than the whole queue, which would then overflow and
                    # close the session on every reconnect, never finishing the replay.
                    await queue.roomy()
                    if queue.closing:
                        break
                    for action in machine.replayed(m):
                        assert type(action) is Emit
                        text = action.cursor
                        self._send(self.message(
                            m, cursor=None if text is None else self._seal(text)))
                if len(page) < self._page or queue.closing:
                    break
        except BaseException:
            machine.replay_failed()
            raise
        self._carry_out(machine.replay_done(self._settled()), request_id)

    def message(self, m: StoredMessage, *, cursor: str | None) -> Message | Update:
        """The frame of a stored entry (a ``message``, or an ``update`` for a change), as
        this user sees it."""
        return stored_frame(m, self.user, cursor)

    def _send(self, frame: ServerFrame) -> None:
        self._queue.put(self._codec.encode_server(frame))


def _closed() -> None:
    """What a closed feed calls instead of its session: nothing."""
