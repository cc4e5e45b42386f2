"""Messaging: threads, sending, history, read pointers and replay, for sockets and HTTP alike.

The guarantees live here (see DESIGN.md):

* acked means durable: :meth:`MessagingService.post` returns only after the store
  committed, and a resend with the same ``cid`` returns the original;
* the broker is only the fast path: a failed publish never fails a committed message,
  since every reader can catch up from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from functools import partial
from typing import Any, Protocol

from protocol.errors import ErrorCode
from realtime import fault_injection, metrics
from realtime.eager import start_eagerly
from realtime.errors import RequestError, forbidden_thread, unavailable
from realtime.events import Event, ReceiptEvent, event_of
from realtime.ratelimit import KeyedBuckets
from realtime.services.in_flight import InFlight
from realtime.services.publisher import Publisher
from realtime.services.push import PushService
from realtime.services.thread_cache import ThreadCache
from realtime.store.base import (
    REACT,
    Appended,
    Changed,
    HistoryPage,
    MessageNotFound,
    NewChange,
    NewMessage,
    NotAMember,
    NotTheSender,
    Store,
    StoredMessage,
    StoreError,
    StoreUnavailable,
    Thread,
    ThreadNotFound,
    ThreadSummary,
    TooManyReactions,
    dm_thread_id,
)

log = logging.getLogger(__name__)

class AfterSend(Protocol):
    """What hears of each new message with a sender (the typing service)."""

    async def message_sent(self, user: str, thread: Thread) -> None: ...


SendDone = Callable[[Appended | Exception | None], None]
"""What a send's pipeline reports (see :meth:`MessagingService.send_soon`)."""


def now_ms() -> int:
    return int(time.time() * 1000)


NEW_DMS = 30
"""New DM threads a user may start per minute on one node, by default."""


class MessagingService:
    """What sessions and the HTTP API do with threads and messages."""

    def __init__(self, store: Store, publisher: Publisher, *,
                 clock: Callable[[], int] = now_ms, new_dms_per_minute: int = NEW_DMS,
                 monotonic: Callable[[], float] = time.monotonic,
                 threads: ThreadCache | None = None, push: PushService | None = None,
                 after_send: AfterSend | None = None) -> None:
        self.store = store
        self._publisher = publisher
        self._clock = clock
        # Any user id names a DM, so a client could otherwise make threads without end.
        self._new_dms = KeyedBuckets(new_dms_per_minute / 60, max(1, new_dms_per_minute))
        self._monotonic = monotonic
        self.threads = threads if threads is not None else ThreadCache(store)
        self.push = push
        """When push is on: offline members get a push of each message."""
        # What follows a commit runs in the commit's own callback only while it needs no
        # task: deciding a push asks presence and the outbox, whose asyncpg and redis-py
        # calls enter asyncio.timeout(), which refuses to run outside a task.
        self._eager = push is None
        self._after_send = after_send
        """Told of each new message with a sender (it ends their typing), however the
        message was sent."""

    # -- threads ---------------------------------------------------------------------

    async def thread_for(self, user: str, *, thread: str | None = None,
                         to: str | None = None) -> Thread:
        """The thread ``user`` addresses: ``thread`` by id (members only) or the DM with ``to``."""
        try:
            if to is not None:
                # Every send with `to` names its DM: created once, then served from memory.
                dm = dm_thread_id(user, to)
                found = self.threads.peek(dm)
                if found is None:
                    found = await self.store.get_thread(dm)
                    if found is None:
                        if not self._new_dms.take(user, self._monotonic()):
                            raise RequestError(ErrorCode.RATE_LIMITED,
                                               "too many new direct threads, slow down")
                        found = await self.store.ensure_dm(user, to)
                    self.threads.put(found)
                return found
        except StoreUnavailable as exc:
            raise unavailable("the store") from exc
        assert thread is not None
        found_thread = await self.threads.member_thread(user, thread)
        return found_thread

    async def find_thread(self, thread_id: str) -> Thread:
        """The thread ``thread_id`` for a trusted caller (the HTTP API), whoever its
        members: ``not_found`` when it does not exist, unlike :meth:`thread_for`."""
        thread = await self._guard(self.threads.get(thread_id))
        if thread is None:
            raise RequestError(ErrorCode.NOT_FOUND, "no such thread")
        return thread

    async def create_group(self, members: Sequence[str], title: str | None) -> Thread:
        thread = await self._guard(self.store.create_group(members, title))
        self.threads.put(thread)
        return thread

    async def change_members(self, thread_id: str, add: Sequence[str],
                             remove: Sequence[str]) -> Thread:
        self.threads.forget(thread_id)
        thread = await self._guard(self.store.change_members(thread_id, add, remove))
        self.threads.put(thread)
        # Committed: every other node drops the thread now, not when its cache expires.
        await self._publisher.thread_changed(thread_id)
        return thread

    async def list_threads(self, user: str, *, limit: int,
                           after: str | None = None) -> tuple[list[ThreadSummary], bool]:
        """A page of ``user``'s threads, newest activity first: up to ``limit`` of them,
        starting after the thread ``after`` (none: from the first), and whether more
        follow. A thread that got a message since the previous page moved to the front
        and is not in the later ones: its message reached the client live."""
        summaries = await self._guard(self.store.threads_of(user))
        start = 0
        if after is not None:
            ids = [s.thread.id for s in summaries]
            if after not in ids:
                raise RequestError(ErrorCode.BAD_REQUEST,
                                   "after names none of your threads")
            start = ids.index(after) + 1
        page = summaries[start:start + limit]
        return page, start + limit < len(summaries)

    # -- messages --------------------------------------------------------------------

    async def post(self, thread: Thread, sender: str | None, body: str, *,
                   meta: dict[str, Any] | None = None, cid: str | None = None,
                   origin: str | None = None, reply_to: int | None = None,
                   attachments: list[dict[str, Any]] | None = None) -> Appended:
        """Commit a message, then publish it to every member's sessions.

        ``origin`` is the sending session, which gets the ack instead of the message.
        Returns after the commit; a duplicate ``cid`` returns the original unpublished.
        """
        started = time.perf_counter()
        pending = self.append_soon(thread, sender, body, meta=meta, cid=cid,
                                   reply_to=reply_to, attachments=attachments)
        with contextlib.suppress(Exception):
            await pending  # its outcome, mapped to what callers are told, comes next
        appended = self.outcome(thread, pending, started)
        await self.published(thread, appended, origin=origin)
        return appended

    # The hot path takes post() apart, so that a send needs no task of its own: hand the
    # message to the store now, and when its commit is done read the outcome and run
    # the rest (which rarely waits) in the caller's step.

    def append_soon(self, thread: Thread, sender: str | None, body: str, *,
                    meta: dict[str, Any] | None = None,
                    cid: str | None = None, reply_to: int | None = None,
                    attachments: list[dict[str, Any]] | None = None,
                    ) -> asyncio.Future[Appended]:
        """Hand a message to the store's next commit; read the future with :meth:`outcome`.
        A ``reply_to`` must have been checked with :meth:`check_reply`."""
        # With push on, the commit itself records that the message owes a push.
        return self.store.append_soon(
            NewMessage(thread=thread.id, sender=sender, body=body, meta=meta, cid=cid,
                       ts=self._clock(), reply_to=reply_to, attachments=attachments,
                       push=self.push is not None)
        )

    def send_soon(self, thread: Thread, sender: str, body: str, *,
                  meta: dict[str, Any] | None, cid: str, reply_to: int | None,
                  attachments: list[dict[str, Any]] | None, origin: str,
                  in_flight: InFlight, done: SendDone) -> None:
        """The send pipeline of a connection: append -> outcome -> publish -> push ->
        ``done``, without a task of its own unless publishing must wait.

        The message goes to the store's next commit now, so one connection's messages
        keep their order; ``done`` is called once, never blocking: with the
        :class:`Appended` (ack it), the error to answer, or None when the commit wait
        was cancelled (a connection cancelled while closing: nobody to answer).
        ``in_flight`` counts the send until ``done`` is called.
        """
        pending = self.append_soon(thread, sender, body, meta=meta, cid=cid,
                                   reply_to=reply_to, attachments=attachments)
        in_flight.add(pending)
        pending.add_done_callback(
            partial(self._committed, thread, origin, in_flight, done, time.perf_counter()))

    def _committed(self, thread: Thread, origin: str, in_flight: InFlight, done: SendDone,
                   started: float, pending: asyncio.Future[Appended]) -> None:
        """A send's commit is done: publish it (at once, unless that must wait) and
        report it, or report the error."""
        in_flight.discard(pending)
        if pending.cancelled():
            done(None)
            return
        try:
            appended = self.outcome(thread, pending, started)
            rest = self.start_after_commit(self.published(thread, appended, origin=origin))
        except Exception as exc:
            done(exc)
            return
        if rest is None:
            done(appended)
        else:
            # Publishing waits (a broker round trip): the ack follows in a task.
            in_flight.start(_finish(rest, appended, done))

    def start_after_commit(self, work: Coroutine[Any, Any, None]) -> Awaitable[None] | None:
        """Start what follows a commit (publish, push, ack) in the caller's step: None
        when it finished there, else what a task must await to finish it. With push on,
        nothing is started here and ``work`` itself is returned, for a task to run."""
        if not self._eager:
            return work
        return start_eagerly(work)

    async def check_reply(self, thread: Thread, reply_to: int) -> None:
        """``bad_request`` unless ``reply_to`` is a message of ``thread``.

        Checked before the append, not in its transaction: a message never stops being
        one (an unsent message stays, erased), so the answer cannot change meanwhile.
        """
        if not await self._guard(self.store.is_message(thread.id, reply_to)):
            raise RequestError(ErrorCode.BAD_REQUEST,
                               f"reply_to {reply_to} is no message of this thread")

    def outcome(self, thread: Thread, pending: asyncio.Future[Appended],
                started: float) -> Appended:
        """The commit of a done :meth:`append_soon` made at ``started``
        (``time.perf_counter()``); store errors become what a client is told
        (``forbidden``, ``unavailable``), others propagate."""
        try:
            appended = pending.result()
            metrics.APPEND_DURATION.observe(time.perf_counter() - started)
            if fault_injection.CRASH_AFTER_COMMIT is not None and not appended.duplicate:
                fault_injection.committed(appended.message.body)
            return appended
        except (ThreadNotFound, NotAMember) as exc:
            self.threads.forget(thread.id)
            raise forbidden_thread() from exc
        except StoreUnavailable as exc:
            raise unavailable("the store") from exc

    async def published(self, thread: Thread, appended: Appended, *,
                        origin: str | None = None) -> None:
        """What follows a commit, before the ack: publish the message to every member's
        sessions, queue pushes, end the sender's typing. Nothing for a duplicate."""
        if appended.duplicate:
            return
        m = appended.message
        await self.publish(thread.members, event_of(m, origin))
        if self.push is not None:
            # The commit recorded the push as owed: decided here, before the ack, or by
            # any node's recovery if this one dies first (realtime/services/push.py).
            await self.push.message(thread.id, m, thread.members)
        if m.sender is not None and self._after_send is not None:
            await self._after_send.message_sent(m.sender, thread)

    async def change(self, user: str | None, thread_id: str, kind: str, target: int, *,
                     origin: str | None = None, **fields: Any) -> Changed:
        """Edit, unsend or react to message ``target`` of ``thread_id`` as ``user`` (None:
        the HTTP API, which may edit and unsend any message of any thread); ``fields``
        as for :meth:`change_soon`. Returns after the commit and the publication (see
        :meth:`changed`)."""
        if user is None:
            thread = await self.find_thread(thread_id)
        else:
            thread = await self.thread_for(user, thread=thread_id)
        pending = self.change_soon(thread, user, kind, target, **fields)
        with contextlib.suppress(Exception):
            await pending  # its outcome, mapped to what callers are told, comes next
        return await self.changed(thread, user, pending, origin=origin)

    def change_soon(self, thread: Thread, user: str | None, kind: str, target: int, *,
                    body: str = "", meta: dict[str, Any] | None = None,
                    replace_meta: bool = False, emoji: str = "",
                    on: bool = True) -> asyncio.Future[Changed]:
        """Hand a change to the store's next commit, in call order; read the future with
        :meth:`changed`. ``edit``: ``body``, and ``meta`` when ``replace_meta``;
        ``react``: ``emoji``, ``on``."""
        return self.store.change_soon(NewChange(
            thread.id, user, kind, target, self._clock(), body=body, meta=meta,
            replace_meta=replace_meta, emoji=emoji, on=on))

    async def changed(self, thread: Thread, user: str | None,
                      pending: asyncio.Future[Changed], *,
                      origin: str | None = None) -> Changed:
        """The outcome of a done :meth:`change_soon`, then what follows its commit: the
        entry is published to every member's sessions (``origin``, the acting session,
        gets the ack instead) and, for a reaction to an offline user's message, pushed.

        Errors: ``forbidden`` (not a member; an edit or unsend of someone else's
        message), ``not_found`` (no such message, or an unsent one; no such thread for
        the HTTP API), ``unavailable``.
        """
        try:
            changed = pending.result()
        except MessageNotFound as exc:
            raise RequestError(ErrorCode.NOT_FOUND, "no such message") from exc
        except NotTheSender as exc:
            raise RequestError(ErrorCode.FORBIDDEN,
                               "only its sender may edit or unsend a message") from exc
        except TooManyReactions as exc:
            raise RequestError(ErrorCode.TOO_LARGE, str(exc)) from exc
        except (ThreadNotFound, NotAMember) as exc:
            self.threads.forget(thread.id)
            if user is None:
                raise RequestError(ErrorCode.NOT_FOUND, "no such thread") from exc
            raise forbidden_thread() from exc
        except StoreUnavailable as exc:
            raise unavailable("the store") from exc
        entry = changed.entry
        if entry is None:
            return changed
        await self.publish(thread.members, event_of(entry, origin))
        if self.push is not None:
            if entry.kind == REACT and entry.on and changed.target is not None:
                await self.push.reaction(thread.id, entry, changed.target)
            elif entry.kind == "unsend" and entry.target is not None:
                await self.push.unsent(thread.id, entry.target)
        return changed

    async def history(self, user: str | None, thread_id: str, before: int | None,
                      limit: int) -> HistoryPage:
        """A page of ``thread_id``; ``user`` None is the HTTP API, which may read any thread."""
        if user is not None:
            await self.thread_for(user, thread=thread_id)
        return await self._guard(self.store.history(thread_id, before, limit))

    async def replay(self, user: str, pos: int, limit: int) -> list[StoredMessage]:
        """Messages of ``user``'s threads after ``pos``, ascending: the page behind a cursor."""
        return await self._guard(self.store.messages_after(user, pos, limit))

    async def head(self) -> int:
        return await self._guard(self.store.head())

    async def read(self, user: str, thread_id: str, seq: int, *,
                   origin: str | None = None) -> int:
        """Move ``user``'s read pointer; the members' sessions get a ``receipt``."""
        thread = await self.thread_for(user, thread=thread_id)
        try:
            pointer = await self.store.mark_read(thread.id, user, seq)
        except (ThreadNotFound, NotAMember) as exc:
            raise forbidden_thread() from exc
        except StoreUnavailable as exc:
            raise unavailable("the store") from exc
        await self.publish(thread.members, ReceiptEvent(thread=thread.id, user=user,
                                                        seq=pointer, origin=origin))
        return pointer

    # -- plumbing --------------------------------------------------------------------

    async def publish(self, users: Sequence[str], event: Event) -> None:
        """Publish ``event`` to each user's sessions (see :class:`Publisher`)."""
        await self._publisher.to_users(users, event)

    async def _guard(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except StoreUnavailable as exc:
            raise unavailable("the store") from exc
        except ThreadNotFound as exc:
            raise RequestError(ErrorCode.NOT_FOUND, "no such thread") from exc
        except StoreError as exc:
            raise RequestError(ErrorCode.BAD_REQUEST, str(exc)) from exc


async def _finish(publishing: Awaitable[None], appended: Appended, done: SendDone) -> None:
    """The rest of a send whose publishing had to wait."""
    try:
        await publishing
    except Exception as exc:
        done(exc)
    else:
        done(appended)
