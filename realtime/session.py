"""A `Session`: one authenticated WebSocket, from ``welcome`` to close.

The read side decodes, validates and rate-limits each frame and dispatches it; the
write side is a :class:`~realtime.send_queue.SendQueue` that nobody waits on. A session
is SYNCING while it replays from a cursor: live messages that arrive meanwhile are held
and released after the replay, minus those the replay already carried, so a client
sees every message exactly once and in ``seq`` order per thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from presence.presence import PresenceUnavailable
from protocol.codec import Codec
from protocol.cursor import Cursor
from protocol.errors import CloseCode, ErrorCode, ProtocolError
from protocol.frames import (
    Ack,
    Device,
    Edit,
    Error,
    History,
    HistoryReply,
    Like,
    ListThreads,
    Ping,
    Pong,
    React,
    Read,
    Refresh,
    Send,
    ServerFrame,
    Subscribe,
    Sync,
    Synced,
    ThreadEntry,
    ThreadsReply,
    Typing,
    Unsend,
    Unsubscribe,
    Welcome,
)
from protocol.limits import Limits
from protocol.validation import format_cursor, parse_topic, validate
from realtime import metrics
from realtime.auth import AuthError, TokenVerifier
from realtime.broker.base import BrokerUnavailable
from realtime.cursor_seal import CursorSeal
from realtime.errors import RequestError, unavailable
from realtime.events import (
    Delivery,
    Disconnect,
    LikesCount,
    MessageEvent,
    PresenceChange,
    ReceiptEvent,
    TypingChange,
    Unwatch,
    folded_message,
)
from realtime.feed import Feed, State, replay_page
from realtime.hub import Hub
from realtime.ratelimit import TokenBucket
from realtime.replies import fitted
from realtime.send_queue import SendQueue
from realtime.services import Services
from realtime.services.in_flight import InFlight
from realtime.services.messaging import now_ms
from realtime.session_controls import CONTROL_HANDLERS
from realtime.store.base import Appended, Changed, StoreUnavailable, Thread
from realtime.watermark import Watermark

log = logging.getLogger(__name__)

ABUSE_STRIKES = 200
"""Frames refused for rate in a row before the connection is closed with 1008."""


class Session:
    """One client connection. Create it after the handshake, then ``await run()``."""

    # Thousands per node: slots keep each one small.
    __slots__ = ("_bucket", "_cursors", "_departed", "_hub", "_in_flight", "_limits",
                 "_messaging", "_node_id", "_silent", "_snapshot_moved", "_snapshot_of",
                 "_strikes", "_unwatched", "_verifier", "_written", "_ws", "codec", "exp", "feed",
                 "id", "queue", "services", "user")

    def __init__(
        self,
        *,
        session_id: str,
        user: str,
        exp: int,
        ws: web.WebSocketResponse,
        codec: Codec,
        node_id: str,
        limits: Limits,
        hub: Hub,
        services: Services,
        verifier: TokenVerifier,
        watermark: Watermark,
        cursors: CursorSeal,
    ) -> None:
        self.id = session_id
        self.user = user
        self.exp = exp
        self.codec = codec
        self._ws = ws
        self._node_id = node_id
        self._limits = limits
        self._hub = hub
        self.services = services
        self._messaging = services.messaging
        self._departed: dict[str, int] | None = None
        """Groups this user was removed from, by the seq of the entry that removed them:
        nothing later of those threads reaches this session, whatever a node with
        members cached from before sends it (until an entry adds the user again)."""
        self._unwatched: set[str] | None = None
        """Presence topics of users who blocked this user since it followed them."""
        self._snapshot_of: str | None = None
        self._snapshot_moved = False
        self._verifier = verifier
        self._cursors = cursors
        self._bucket = TokenBucket(limits.rate, limits.burst, time.monotonic())
        self._strikes = 0
        self._silent = 0
        """Keepalive ticks since the client last sent anything (see :meth:`keepalive`)."""
        self._written = 0
        """Frames the queue had written at the last keepalive tick of a replay."""
        self._in_flight: InFlight | None = None
        """Sends and changes awaiting their commit, or publishing after it (made on the
        first)."""
        self.queue = SendQueue(ws, binary=codec.binary, max_bytes=limits.max_queue,
                               on_overflow=self._too_slow)
        self.feed = Feed(user=user, codec=codec, queue=self.queue, messaging=self._messaging,
                         watermark=watermark, too_far=self._too_slow,
                         page=replay_page(limits), seal=cursors.seal)

    # -- lifecycle -------------------------------------------------------------------

    async def run(self, cursor: Cursor | None) -> None:
        """Serve the connection until it closes. ``cursor``: replay what came after it first."""
        if cursor is not None:
            self.feed.hold()  # from the moment we attach: the replay decides what goes out
        presence = self.services.presence
        try:
            await self._hub.attach(self)
            await presence.joined(self.user, self.id)
            head = await self._messaging.head()
            self.feed.start(head)
            self.send(Welcome(user=self.user, session=self.id, node=self._node_id,
                              cursor=self._cursors.seal(format_cursor(head)),
                              limits=self._limits.as_welcome()))
            if cursor is not None:
                await self.feed.replay(cursor.clamped(head), request_id=None)
                self._silent = 0  # the client read the replay: it starts afresh, live
            # The read loop is inline, not a method: one coroutine frame less for each of
            # tens of thousands of idle connections.
            async for msg in self._ws:
                self._silent = 0
                kind = msg.type
                if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
                    await self._on_data(msg.data)
                elif kind is WSMsgType.PING or kind is WSMsgType.PONG:
                    # Control frames spend tokens too: a flood of pings is a flood.
                    if self._bucket.take(time.monotonic()):
                        self._strikes = 0
                        if kind is WSMsgType.PING:
                            self.queue.pong(msg.data)
                    else:
                        self._strike(None, answer=False)
                elif kind is WSMsgType.ERROR:
                    break
                if self.queue.closing:
                    break
        except (RequestError, BrokerUnavailable, PresenceUnavailable) as exc:
            # A dependency is down at connect: tell the client to come back.
            log.warning("session %s: %s", self.id, exc)
            self.close(CloseCode.TRY_AGAIN_LATER, "unavailable, retry")
        except Exception:
            log.exception("session %s failed", self.id)
            self.close(CloseCode.INTERNAL_ERROR, "internal error")
        finally:
            await self.feed.close()
            # Neither a broker nor a store failure may keep the rest of the cleanup from
            # running: the in-flight sends below must still finish.
            try:
                await self._hub.detach(self)
                await presence.left(self.user, self.id)
            except Exception as exc:
                log.warning("session %s: cleanup of %s incomplete: %s", self.id, self.user,
                            exc)
            # Acked means durable: the sends already handed to the store finish, even
            # though their acks can no longer reach anyone. A commit that ends here may
            # start a task to finish publishing: wait for those too.
            if self._in_flight is not None:
                await self._in_flight.drain()
            if not self.queue.closing:
                metrics.closed(self._ws.close_code)  # the client closed first
            self.queue.close(CloseCode.NORMAL)
            await self.queue.wait_closed()

    def close(self, code: int, reason: str = "", *, flush: bool = False) -> None:
        """Close the connection with ``code`` (see ``SendQueue.close``). Never blocks."""
        if not self.queue.closing:
            metrics.closed(code)
        self.queue.close(code, reason, flush=flush)

    def expired(self, now: float) -> bool:
        return self.exp <= now

    # -- output ----------------------------------------------------------------------

    def send(self, frame: ServerFrame) -> None:
        self.queue.put(self.codec.encode_server(frame))

    def deliver(self, delivery: Delivery) -> None:
        """Called by the hub for each event addressed to this user (never blocks)."""
        event = delivery.event
        if self._snapshot_of is not None:
            if isinstance(event, PresenceChange) and event.user == self._snapshot_of:
                self._snapshot_moved = True
                return
        if isinstance(event, MessageEvent):
            if (self._departed is not None or event.kind == "members") \
                    and not self._owed(event):
                return
        elif isinstance(event, PresenceChange):
            if self._unwatched and f"presence:{event.user}" in self._unwatched:
                return
        elif isinstance(event, Disconnect):
            self.close(event.code, event.reason)
            return
        elif isinstance(event, Unwatch):
            if self._unwatched is None:
                self._unwatched = set()
            topic = f"presence:{event.user}"
            self._unwatched.add(topic)
            self.feed.forget_topic(topic)
            return
        elif self._departed is not None and isinstance(event, ReceiptEvent | TypingChange) \
                and event.thread in self._departed:
            return
        metrics.sent(type(event))
        self.feed.deliver(delivery)

    def _owed(self, event: MessageEvent) -> bool:
        """Whether entry ``event`` may reach this user: not after their removal from its
        thread (unless it adds them again). Notes removals as they pass."""
        departed = self._departed
        if departed is not None:
            left = departed.get(event.thread)
            if left is not None and event.seq > left:
                if event.kind != "members" or self.user not in (event.meta or {}).get(
                        "added", ()):
                    return False
                del departed[event.thread]
        if event.kind == "members" and self.user in (event.meta or {}).get("removed", ()):
            self.departed(event.thread, event.seq)
        return True

    def departed(self, thread: str, seq: int) -> None:
        """Entry ``seq`` of ``thread`` removed this user: nothing later of it is theirs."""
        if self._departed is None:
            self._departed = {}
        self._departed[thread] = max(seq, self._departed.get(thread, 0))

    def _error(self, request_id: int | str | None, code: ErrorCode, message: str) -> None:
        metrics.error(code)
        self.send(Error(code=str(code), message=message, id=request_id))

    def _too_slow(self) -> None:
        log.info("session %s: send queue over %d bytes, closing", self.id,
                 self._limits.max_queue)
        self.close(CloseCode.TRY_AGAIN_LATER, "too slow: reconnect and sync")

    def keepalive(self) -> None:
        """Called by the node every half keepalive interval: a client silent for two
        ticks is pinged, and one still silent at the next tick is closed (1013).

        Any frame counts as an answer, a pong or not. One task ticking every session
        costs less, in memory and CPU, than a timer per connection.
        """
        if self.feed.state is State.SYNCING:
            # A replay holds the read loop, so answers to pings go unread meanwhile: a
            # client shows it is there by taking what the replay writes. One that takes
            # nothing for as long as an unanswered ping is allowed is closed the same way.
            written = self.queue.written
            if self.queue.idle or written != self._written:
                self._written = written
                self._silent = 0
                return
            self._silent += 1
            if self._silent > 2:
                log.info("session %s: replay not read, closing", self.id)
                self.close(CloseCode.TRY_AGAIN_LATER, "not reading: reconnect and sync")
            return
        self._silent += 1
        if self._silent == 2:
            self.queue.ping()
        elif self._silent > 2:
            log.info("session %s: no answer to a keepalive ping, closing", self.id)
            self.close(CloseCode.TRY_AGAIN_LATER, "no answer to ping: reconnect and sync")

    # -- input -----------------------------------------------------------------------

    async def _on_data(self, data: bytes | str) -> None:
        # Every frame spends a token, malformed ones too: a flood of garbage is a flood.
        allowed = self._bucket.take(time.monotonic())
        try:
            frame = validate(self.codec.decode_client(data), self._limits)
        except ProtocolError as exc:
            if allowed:
                self._error(exc.request_id, exc.code, exc.message)
            else:
                self._strike(exc.request_id)
            return
        kind = type(frame)
        metrics.received(kind)
        if not allowed:
            self._strike(frame.id)
            return
        self._strikes = 0
        started = time.perf_counter()
        try:
            await _HANDLERS[kind](self, frame)
        except RequestError as exc:
            self._error(frame.id, exc.code, exc.message)
        except Exception:
            log.exception("session %s: %s failed", self.id, kind.__name__)
            self._error(frame.id, ErrorCode.INTERNAL, "internal error")
        finally:
            metrics.command(kind, time.perf_counter() - started)

    def _strike(self, request_id: int | str | None, *, answer: bool = True) -> None:
        """A frame refused for rate; ``answer``: tell the client so (pings get no answer)."""
        self._strikes += 1
        if self._strikes >= ABUSE_STRIKES:
            self.close(CloseCode.POLICY_VIOLATION, "rate limit exceeded repeatedly")
        elif answer:
            self._error(request_id, ErrorCode.RATE_LIMITED, "too many frames, slow down")

    async def _on_send(self, frame: Send) -> None:
        thread = await self._messaging.thread_for(self.user, thread=frame.thread, to=frame.to)
        if thread.blocked and any(b != self.user for b in thread.blocked):
            # The other member of this DM blocks this user (who is not told it is a block).
            raise RequestError(ErrorCode.FORBIDDEN, "you cannot send to this thread")
        if frame.reply_to is not None:
            await self._messaging.check_reply(thread, frame.reply_to)
        in_flight = await self._room_in_flight()
        # From here the store may hold this message before its ack is sent: a gap repair
        # must not hand it to this device as someone's message.
        self.feed.sending(frame.cid)
        self._messaging.send_soon(
            thread, self.user, frame.body, meta=frame.meta, cid=frame.cid,
            reply_to=frame.reply_to,
            attachments=None if frame.attachments is None
            else msgspec.to_builtins(frame.attachments),
            origin=self.id, in_flight=in_flight, done=partial(self._sent, frame))

    def _sent(self, frame: Send, outcome: Appended | Exception | None) -> None:
        """The send of ``frame`` is over: ack it, or answer its error (None: cancelled
        while closing, nobody to answer)."""
        self.feed.sent(frame.cid)
        if isinstance(outcome, Appended):
            m = outcome.message
            # This device has its own message through the ack: it is not a gap for it.
            self.feed.acked(m.thread, m.seq)
            self.send(Ack(id=frame.id, thread=m.thread, seq=m.seq, msg=m.msg, ts=m.ts))
        elif isinstance(outcome, RequestError):
            self._error(frame.id, outcome.code, outcome.message)
        elif outcome is not None:
            log.error("session %s: send failed", self.id, exc_info=outcome)
            self._error(frame.id, ErrorCode.INTERNAL, "internal error")

    async def _room_in_flight(self) -> InFlight:
        """This session's sends in flight (made on the first), once one more fits."""
        in_flight = self._in_flight
        if in_flight is None:
            in_flight = self._in_flight = InFlight()
        else:
            await in_flight.room()
        return in_flight

    async def _on_edit(self, frame: Edit) -> None:
        await self._change(frame, "edit", body=frame.body, meta=frame.meta,
                           replace_meta=frame.meta is not None)

    async def _on_unsend(self, frame: Unsend) -> None:
        await self._change(frame, "unsend")

    async def _on_react(self, frame: React) -> None:
        await self._change(frame, "react", emoji=frame.emoji, on=frame.on)

    async def _change(self, frame: Edit | Unsend | React, kind: str, **fields: Any) -> None:
        """Hand a change to a message to the store now, in frame order, and go on reading:
        like sends, a connection's changes share commits. This device gets the ack, the
        others the update."""
        thread = await self._messaging.thread_for(self.user, thread=frame.thread)
        in_flight = await self._room_in_flight()
        pending = self._messaging.change_soon(thread, self.user, kind, frame.seq, **fields)
        in_flight.add(pending)
        pending.add_done_callback(partial(self._change_committed, thread, frame, in_flight))

    def _change_committed(self, thread: Thread, frame: Edit | Unsend | React,
                          in_flight: InFlight, pending: asyncio.Future[Changed]) -> None:
        """The commit of a change is done: publish and ack it in this step, unless
        publishing must wait (then in a task), as a send's."""
        in_flight.discard(pending)
        if pending.cancelled():
            return  # a session cancelled while closing: nobody to answer
        rest = self._messaging.start_after_commit(self._changed(thread, frame, pending))
        if rest is not None:
            in_flight.start(_finish_suspended(rest))

    async def _changed(self, thread: Thread, frame: Edit | Unsend | React,
                       pending: asyncio.Future[Changed]) -> None:
        """Publish a committed change and ack it, or answer its error."""
        try:
            changed = await self._messaging.changed(thread, self.user, pending,
                                                    origin=self.id)
        except RequestError as exc:
            self._error(frame.id, exc.code, exc.message)
            return
        except Exception:
            log.exception("session %s: %s failed", self.id, type(frame).__name__)
            self._error(frame.id, ErrorCode.INTERNAL, "internal error")
            return
        if changed.entry is not None:
            # This device has the entry through its ack: it is not a gap for it.
            self.feed.acked(frame.thread, changed.entry.seq)
        self.send(Ack(id=frame.id, thread=frame.thread, seq=changed.seq, target=frame.seq))

    async def _on_typing(self, frame: Typing) -> None:
        await self.services.typing.typing(self.user, frame.thread, frame.on)

    async def _on_like(self, frame: Like) -> None:
        try:
            count = await self.services.likes.like(self.user, frame.post, frame.on)
        except StoreUnavailable as exc:
            raise unavailable("the store") from exc
        self.send(Ack(id=frame.id, post=frame.post, count=count))

    async def _on_subscribe(self, frame: Subscribe) -> None:
        kind, name = parse_topic(frame.topic, frame.id)
        following = self._hub.topics_of(self)
        unwatched = self._unwatched is not None and frame.topic in self._unwatched
        if frame.topic not in following or unwatched:
            if len(following) >= self._limits.max_topics:
                raise RequestError(ErrorCode.FORBIDDEN,
                                   f"too many subscriptions (at most {self._limits.max_topics})")
            try:
                allowed = kind != "presence" or await self.services.presence.may_watch(
                    self.user, name)
            except StoreUnavailable as exc:
                raise unavailable("the store") from exc
            if not allowed:
                raise RequestError(ErrorCode.FORBIDDEN, "you share no thread with this user")
            if unwatched and self._unwatched is not None:
                self._unwatched.discard(frame.topic)
            await self._hub.follow(self, frame.topic)
        try:
            state = await self._current_state(kind, name)
        except (StoreUnavailable, PresenceUnavailable) as exc:
            await self._hub.unfollow(self, frame.topic)
            raise unavailable("presence" if isinstance(exc, PresenceUnavailable)
                              else "the store") from exc
        # The current state, then the ack: a client that has the ack has the state, and
        # changes follow. The state goes straight to the client, never held behind a
        # replay, so it cannot arrive after a later unsubscribe's ack; anything of the
        # topic still held is older than it.
        self.feed.forget_topic(frame.topic)
        metrics.sent(type(state))
        self.queue.put(Delivery(state).encoded(self.codec, self.user))
        self.send(Ack(id=frame.id))

    async def _current_state(self, kind: str, name: str) -> PresenceChange | LikesCount:
        """A snapshot of a followed topic that no change delivered meanwhile contradicts.

        A presence change that reaches this session while the snapshot is read may or may
        not be in it: such changes are dropped and the snapshot is read again, so the state
        the client ends with is the latest. Like counts need no such care: every update
        carries the count read from the store when it was sent.
        """
        if kind != "presence":
            return LikesCount(post=name, count=await self.services.likes.count(name))
        for _ in range(5):
            self._snapshot_of, self._snapshot_moved = name, False
            try:
                (state,) = await self.services.presence.states([name])
            finally:
                self._snapshot_of = None
            if not self._snapshot_moved:
                break
        return state

    async def _on_unsubscribe(self, frame: Unsubscribe) -> None:
        parse_topic(frame.topic, frame.id)
        await self._hub.unfollow(self, frame.topic)
        # Once the ack is sent no frame of the topic may follow: the hub delivers no more,
        # and whatever a replay holds of it is dropped.
        self.feed.forget_topic(frame.topic)
        self.send(Ack(id=frame.id))

    async def _on_read(self, frame: Read) -> None:
        pointer = await self._messaging.read(self.user, frame.thread, frame.seq, origin=self.id)
        self.send(Ack(id=frame.id, thread=frame.thread, seq=pointer))

    async def _on_history(self, frame: History) -> None:
        page = await self._messaging.history(self.user, frame.thread, frame.before, frame.limit)
        messages = [folded_message(m, self.user) for m in page.messages]
        total = len(messages)

        def encode(n: int) -> bytes:
            # The newest n: the client goes on with ``before`` the first one it got.
            return self.codec.encode_server(HistoryReply(
                id=frame.id, thread=frame.thread, messages=messages[total - n:],
                more=page.more or n < total))

        data, _ = fitted(encode, total, self._limits.max_queue)
        self.queue.put(data)

    async def _on_threads(self, frame: ListThreads) -> None:
        summaries, more = await self._messaging.list_threads(self.user, limit=frame.limit,
                                                             after=frame.after)
        blocked = await self.services.groups.blocked_by(self.user)
        now = now_ms()
        entries = [
            ThreadEntry(thread=s.thread.id, members=list(s.thread.members),
                        last=None if s.last is None else folded_message(s.last, self.user),
                        unread=s.unread, title=s.thread.title, kind=s.thread.kind,
                        admins=list(s.thread.admins) if s.thread.kind == "group" else None,
                        muted=s.muted if s.muted is True or s.muted is False or s.muted > now
                        else False,
                        blocked=True if s.thread.kind == "dm" and any(
                            m in blocked for m in s.thread.members if m != self.user)
                        else None)
            for s in summaries
        ]

        def encode(n: int) -> bytes:
            return self.codec.encode_server(ThreadsReply(
                id=frame.id, threads=entries[:n], more=more or n < len(entries)))

        data, _ = fitted(encode, len(entries), self._limits.max_queue)
        self.queue.put(data)

    async def _on_sync(self, frame: Sync) -> None:
        if frame.cursor is None:
            # Replays nothing: "now" is where the client stands from here on.
            head = await self._messaging.head()
            self.send(Synced(id=frame.id, cursor=self._cursors.seal(format_cursor(head))))
            return
        try:
            cursor = self._cursors.open(frame.cursor, frame.id)
        except ProtocolError as exc:
            raise RequestError(exc.code, exc.message) from None
        # A cursor beyond "now" is taken as "now" (see Cursor.clamped).
        cursor = cursor.clamped(await self._messaging.head())
        await self.feed.replay(cursor, request_id=frame.id)
        self._silent = 0

    async def _on_ping(self, frame: Ping) -> None:
        self.send(Pong(id=frame.id))

    async def _on_refresh(self, frame: Refresh) -> None:
        try:
            identity = await self._verifier.authenticate(frame.token)
        except AuthError as exc:
            raise RequestError(ErrorCode.UNAUTHORIZED, str(exc)) from exc
        if identity.user != self.user:
            raise RequestError(ErrorCode.UNAUTHORIZED, "token is for another user")
        self.exp = identity.exp
        self.send(Ack(id=frame.id, exp=identity.exp * 1000))

    async def _on_device(self, frame: Device) -> None:
        try:
            await self._messaging.store.add_device(self.user, frame.token, frame.platform)
        except StoreUnavailable as exc:
            raise unavailable("the store") from exc
        self.send(Ack(id=frame.id))


async def _finish_suspended(rest: Awaitable[None]) -> None:
    """Run the rest of a coroutine started with ``start_eagerly`` (it answers its own
    errors)."""
    await rest


# Which method handles each client frame: one table for all sessions.
_HANDLERS: dict[type, Callable[[Session, Any], Awaitable[None]]] = {
    Send: Session._on_send,
    Typing: Session._on_typing,
    Read: Session._on_read,
    History: Session._on_history,
    Sync: Session._on_sync,
    ListThreads: Session._on_threads,
    Ping: Session._on_ping,
    Refresh: Session._on_refresh,
    Like: Session._on_like,
    Subscribe: Session._on_subscribe,
    Unsubscribe: Session._on_unsubscribe,
    Device: Session._on_device,
    Edit: Session._on_edit,
    Unsend: Session._on_unsend,
    React: Session._on_react,
    **CONTROL_HANDLERS,
}
