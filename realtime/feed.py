"""`Feed`: what one device is sent from its user's threads, exactly once and in order.

A feed is SYNCING while it replays from a cursor: events that arrive meanwhile are held
and released after the replay, minus the messages the replay already carried. Once
LIVE, each thread's messages go out in ``seq`` order, each once: a duplicate is
dropped, and a message that arrives after a gap (a publication from another node that
is late, or lost) waits while the missing ones are read from the store. Every message
frame carries the feed's cursor (see :mod:`protocol.cursor`).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable

from protocol.codec import Codec
from protocol.cursor import Cursor, CursorTracker
from protocol.frames import Message, ServerFrame, Synced, Update
from protocol.limits import Limits
from realtime.events import Delivery, MessageEvent, stored_frame, topic_of
from realtime.send_queue import SendQueue
from realtime.services.messaging import MessagingService
from realtime.store.base import StoredMessage, StoreUnavailable
from realtime.watermark import Watermark

REPLAY_PAGE = 500
"""The most messages one replay page reads from the store."""
MAX_HELD = 10_000
"""Events held during a replay; past it the client is too far behind (1013)."""
MESSAGE_OVERHEAD = 1024
"""Bytes a stored message costs beyond its body and meta (ids, cursor, framing), at most."""


def replay_page(limits: Limits) -> int:
    """Messages per replay page: as many of the largest messages a client may send as fit
    in half the connection's byte limit (the queue itself may hold the other half before
    the replay waits), between 1 and :data:`REPLAY_PAGE`. So what a replay holds, the page
    it read and the frames it queued, stays within the connection's limit."""
    largest = limits.max_body + limits.max_meta + MESSAGE_OVERHEAD
    return max(1, min(REPLAY_PAGE, limits.max_queue // 2 // largest))
MAX_ACKED = 1024
"""Own acked seqs remembered per thread (see :meth:`Feed.acked`)."""
MAX_GAP = 500
"""Messages a gap may miss and still be filled from the store; past it: reconnect and sync."""


class State(enum.Enum):
    SYNCING = "syncing"
    LIVE = "live"
    CLOSED = "closed"


class Feed:
    """The stream of events to one session. ``too_far`` is called (never blocking) when
    the client must reconnect and sync instead."""

    __slots__ = ("_acked", "_codec", "_cursor", "_held", "_held_bytes", "_messaging",
                 "_page", "_queue", "_repairing", "_repairs", "_sending", "_seqs", "_start",
                 "_too_far", "_watermark", "state", "user")

    def __init__(self, *, user: str, codec: Codec, queue: SendQueue,
                 messaging: MessagingService, watermark: Watermark,
                 too_far: Callable[[], None], page: int = REPLAY_PAGE) -> None:
        self.user = user
        self.state = State.LIVE
        self._codec = codec
        self._queue = queue
        self._messaging = messaging
        self._watermark = watermark
        self._too_far = too_far
        self._cursor = CursorTracker(0, ordered=watermark.ordered)
        self._start = 0
        """Messages at or below this position are not owed live: older than the session,
        or carried by its replay."""
        self._held: list[Delivery] = []
        self._held_bytes = 0
        """What the held events weigh encoded: counted with the queue against its limit."""
        self._page = page
        self._seqs: dict[str, int] = {}
        self._acked: dict[str, set[int]] = {}
        self._sending: set[str] | None = None
        self._repairing: dict[str, list[Delivery]] = {}
        self._repairs: set[asyncio.Task[None]] | None = None

    def hold(self) -> None:
        """Hold events until the replay that follows releases them."""
        self.state = State.SYNCING

    def start(self, head: int) -> None:
        """The client stands at ``head`` ("now"), as its ``welcome`` says."""
        self._cursor.reset(Cursor(head))
        self._start = head

    async def close(self) -> None:
        self.state = State.CLOSED
        if self._repairs:
            for task in self._repairs:
                task.cancel()
            await asyncio.gather(*self._repairs, return_exceptions=True)
        # ``too_far`` is the session's method: the one reference back to it. Without
        # it a closed session, and aiohttp's objects for its connection, are freed by
        # reference counting at once instead of waiting for a full collection, which
        # the node makes rare (realtime.gc_tuning).
        self._too_far = _closed

    # -- live ------------------------------------------------------------------------

    def deliver(self, delivery: Delivery) -> None:
        """An event for this user arrived (never blocks)."""
        if self.state is State.SYNCING:
            # Held events count toward the connection's byte limit like queued ones: a
            # client that stalls its replay cannot make the node hold more for it.
            self._held_bytes += len(delivery.encoded(self._codec, self.user))
            if (len(self._held) >= MAX_HELD
                    or self._held_bytes + self._queue.size > self._queue.max_bytes):
                self._too_far()
            else:
                self._held.append(delivery)
        elif self.state is State.LIVE:
            self._deliver_live(delivery)

    def sending(self, cid: str) -> None:
        """This device sent ``cid``; until :meth:`sent`, the store may have it unacked."""
        if self._sending is None:
            self._sending = set()
        self._sending.add(cid)

    def sent(self, cid: str) -> None:
        if self._sending is not None:
            self._sending.discard(cid)

    def acked(self, thread: str, seq: int) -> None:
        """This device sent ``seq`` and got (or is getting) its ack: not a gap for it."""
        own = self._acked.setdefault(thread, set())
        own.add(seq)
        if len(own) > MAX_ACKED:
            # A device that only sends in a thread never consumes these; the oldest half
            # are the least likely to matter, and forgetting one risks a repeat, never a loss.
            own.difference_update(sorted(own)[: MAX_ACKED // 2])

    def _deliver_live(self, delivery: Delivery) -> None:
        event = delivery.event
        if not isinstance(event, MessageEvent):
            self._queue.put(delivery.encoded(self._codec, self.user))
            return
        held = self._repairing.get(event.thread)
        if held is not None:
            held.append(delivery)
            return
        last = self._last_seq(event.thread)
        if last is not None and event.seq <= last:
            return  # delivered already: replayed, repaired from the store, or a duplicate
        if last is None and event.seq > 1 and not self._cursor.ordered:
            # The thread's first message this session sees, in a cluster: earlier ones,
            # published by other nodes, may still be on their way. Read them from the
            # store rather than drop them as duplicates when they come.
            last = 0
        if last is not None and event.seq > last + 1:
            self._repairing[event.thread] = [delivery]
            task = asyncio.create_task(self._repair(event.thread, last, event.seq))
            if self._repairs is None:
                self._repairs = set()
            self._repairs.add(task)
            task.add_done_callback(self._repairs.discard)
            return
        cursor = self._advance(event.thread, event.seq, event.pos)
        self._queue.put(delivery.encoded_with_cursor(self._codec, self.user, cursor))

    def _last_seq(self, thread: str) -> int | None:
        """The last seq of ``thread`` this device has: delivered to it, or acked to it."""
        last = self._seqs.get(thread)
        if not self._acked:
            return last  # a device that never sent (most of a group's members)
        own = self._acked.get(thread)
        if last is not None and own:
            while last + 1 in own:
                own.discard(last + 1)
                last += 1
            self._seqs[thread] = last
        return last

    def _put_message(self, encoded: bytes, thread: str, seq: int, pos: int) -> None:
        """Queue a message frame (encoded without its cursor) with this feed's cursor."""
        self._queue.put(self._codec.with_field(encoded, "cursor",
                                               self._advance(thread, seq, pos)))

    def _advance(self, thread: str, seq: int, pos: int) -> str:
        """Record that message ``seq`` of ``thread`` goes out; return the cursor after it."""
        self._seqs[thread] = seq
        tracker = self._cursor
        tracker.delivered(thread, seq, pos, 0 if tracker.ordered else self._watermark.settled())
        return tracker.text

    async def _repair(self, thread: str, last: int, upto: int) -> None:
        """Send ``thread``'s messages after ``last`` and before ``upto`` from the store,
        then what was held meanwhile."""
        first_sight = last == 0
        missing = upto - last - 1
        try:
            if missing > MAX_GAP and not first_sight:
                raise _TooFarBehind
            # Entries, not history: the changes between are owed as much as the messages.
            page = await self._messaging.store.entries(
                thread, upto - 1 - min(missing, MAX_GAP), upto)
        except (StoreUnavailable, _TooFarBehind):
            self._repairing.pop(thread, None)
            self._too_far()
            return
        held = self._repairing.pop(thread, [])
        if self.state is not State.LIVE:
            return
        own = self._acked.get(thread)
        for m in page:
            if first_sight and m.pos <= self._start:
                continue  # older than this session (or replayed): not owed live
            if own and m.seq in own:
                continue  # this device's own message: its ack carried it
            if m.sender == self.user and self._sending and m.cid in self._sending:
                # This device's own send, committed but not acked yet: the ack carries it.
                self.acked(thread, m.seq)
                continue
            last_seq = self._last_seq(thread)
            if last_seq is None or m.seq > last_seq:
                frame = self._codec.encode_server(self.message(m, cursor=None))
                self._put_message(frame, thread, m.seq, m.pos)
        if first_sight:
            # Everything before ``upto`` is now either delivered or not owed.
            self._seqs[thread] = max(self._seqs.get(thread, 0), upto - 1)
        held.sort(key=lambda d: d.event.seq)  # type: ignore[union-attr]
        for delivery in held:
            self._deliver_live(delivery)

    def forget_topic(self, topic: str) -> None:
        """Drop what is held of ``topic``: the session stopped following it, or is about
        to send its current state, which supersedes anything older."""
        if self._held:
            self._held = [d for d in self._held if topic_of(d.event) != topic]

    # -- replay ----------------------------------------------------------------------

    async def replay(self, cursor: Cursor, request_id: int | str | None) -> None:
        """Send every message after ``cursor``, then ``synced``, then what was held.

        The feed was SYNCING before the first page was read, so a message committed at
        any point is either in a page or held; one in both is released only if the replay
        did not already carry its (thread, seq). Pages are read in position order, which
        is commit order: everything up to the last one read is in the store, so the
        cursor's base can follow the replay.
        """
        self.state = State.SYNCING
        self._cursor.reset(cursor)
        last = cursor.base
        queue = self._queue
        try:
            while True:
                page = await self._messaging.replay(self.user, last, self._page)
                for m in page:
                    # Backpressure per message, not per page: a page of large messages
                    # can be bigger than the whole queue, which would then overflow and
                    # close the session on every reconnect, never finishing the replay.
                    await queue.roomy()
                    if queue.closing:
                        break
                    last = m.pos
                    self._cursor.advance(m.pos)
                    self._seqs[m.thread] = max(m.seq, self._seqs.get(m.thread, 0))
                    if cursor.covers(m.thread, m.seq, m.pos):
                        continue  # the client listed it: delivered before
                    self._send(self.message(m, cursor=self._cursor.text))
                if len(page) < self._page or queue.closing:
                    break
        finally:
            held, self._held = self._held, []
            self._held_bytes = 0
            if self.state is State.SYNCING:
                self.state = State.LIVE
        self._cursor.advance(last)
        self._start = last  # what the replay read up to is not owed live again
        self._send(Synced(id=request_id, cursor=self._cursor.text))
        for delivery in held:
            self._deliver_live(delivery)

    def message(self, m: StoredMessage, *, cursor: str | None) -> Message | Update:
        """The frame of a stored entry (a ``message``, or an ``update`` for a change), as
        this user sees it."""
        return stored_frame(m, self.user, cursor)

    def _send(self, frame: ServerFrame) -> None:
        self._queue.put(self._codec.encode_server(frame))


def _closed() -> None:
    """What a closed feed calls instead of its session: nothing."""


class _TooFarBehind(Exception):
    """A gap too large to fill message by message: the client must reconnect and sync."""
