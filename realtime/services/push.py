"""Push fallback: what a user could not get live goes to their devices through the outbox.

"Could not get live" means no session anywhere in the cluster (the presence check), at
the moment the event is handled. The service only enqueues, durably; the
:class:`~push.worker.PushWorker` sends.

A message owes its push from its commit: the store records it in ``push_owed`` in the
same transaction (:attr:`NewMessage.push`). After the commit, before the ack,
:meth:`PushService.message` decides who is offline and discharges the record into their
devices' jobs, or into nothing, in one outbox transaction. A failure there is logged
and never fails the send: the record stays, and :meth:`PushService.recover` (run by
every node every few seconds) discharges records left behind by a failure or by a node
that died between the commit and the discharge. A record is discharged once, whoever
gets to it first (:meth:`push.outbox.Outbox.discharge`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from push.messages import (
    PushContent,
    PushMessage,
    for_chat_message,
    for_like,
    for_notification,
    for_reaction,
)
from push.outbox import Outbox, OwedPush
from push.worker import PushWorker
from realtime.store.base import Store, StoredMessage

log = logging.getLogger(__name__)


class OnlineCheck(Protocol):
    """Who is online anywhere in the cluster: :class:`presence.presence.Presence` fits."""

    def online(self, users: Iterable[str]) -> Awaitable[set[str]]: ...


class PushService:
    """Queues pushes for offline users.

    :attr:`worker` is woken after each enqueue (None: a worker finds the jobs at its next
    poll). It may be set after construction, since the worker's ``on_unregistered`` is
    usually this service's :meth:`remove_device`.
    """

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        presence: OnlineCheck,
        worker: PushWorker | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._outbox = outbox
        self._presence = presence
        self.worker = worker
        self._clock = clock

    async def offline_recipients(self, users: Sequence[str]) -> list[str]:
        """Those of ``users`` with no session anywhere, in the given order."""
        online = await self._presence.online(users)
        return [user for user in dict.fromkeys(users) if user not in online]

    async def message(
        self, thread: str, message: StoredMessage, recipients: Sequence[str]
    ) -> list[str]:
        """Discharge the push ``message`` owes: jobs for the devices of the offline ones
        among ``recipients`` (its sender excluded). Returns the users for whom a push was
        queued (none when the record was discharged already)."""
        users = [user for user in recipients if user != message.sender]

        async def content(user: str) -> PushContent:
            return for_chat_message(
                thread, message.sender, message.body, await self._unread(user, thread),
                message.seq,
            )

        return await self._queue(users, content, owed=message.pos, thread=thread)

    async def recover(self, until_ms: int, limit: int = 100) -> int:
        """Discharge owed pushes of messages stamped at or before ``until_ms`` that no one
        discharged: their node died after the commit, or the discharge failed. Returns
        how many records were found (``limit``: there may be more)."""
        owed = await self._outbox.owed(until_ms, limit)
        for record in owed:
            await self._recover_one(record)
        return len(owed)

    async def _recover_one(self, record: OwedPush) -> None:
        thread = await self._store.get_thread(record.thread)
        entries = await self._store.entries(record.thread, record.seq - 1, record.seq + 1)
        if thread is None or not entries or entries[0].deleted:
            # Nothing left to announce (the thread or the message is gone, or unsent).
            await self._outbox.discharge(record.pos, [], self._clock())
            return
        log.info("push: recovering the push of a message committed at %d", record.ts)
        await self.message(record.thread, entries[0], thread.members)

    async def reaction(self, thread: str, entry: StoredMessage, target: StoredMessage
                       ) -> list[str]:
        """Queue a push of reaction ``entry`` to the sender of ``target`` when offline;
        never for a reaction to one's own message, nor to a system message."""
        owner = target.sender
        if owner is None or owner == entry.sender or entry.sender is None:
            return []
        built = for_reaction(thread, target.seq, entry.sender, entry.emoji or "", target.body)

        async def content(_: str) -> PushContent:
            return built

        return await self._queue([owner], content, thread=thread)

    async def unsent(self, thread: str, seq: int) -> None:
        """Message ``seq`` of ``thread`` was unsent: its owed push and its jobs not yet
        sent leave the outbox now, with the text they carried. A job a worker holds at
        this moment is dropped by the worker's own check (:meth:`withdrawn`)."""
        try:
            gone = await self._outbox.withdraw(thread, seq)
        except Exception:
            # The worker's check still keeps it from being sent.
            log.exception("push: could not withdraw the pushes of an unsent message")
            return
        if gone:
            log.info("push: %d push(es) of an unsent message withdrawn", gone)

    async def withdrawn(self, message: PushMessage) -> bool:
        """Whether ``message`` announces a chat message that was unsent since: the worker
        drops it instead of sending it (its preview is erased content)."""
        data = message.data
        if data.get("kind") != "message" or "seq" not in data or "thread" not in data:
            return False
        try:
            seq = int(data["seq"])
        except ValueError:
            return False  # a backend's notification that calls itself a message
        entries = await self._store.entries(data["thread"], seq - 1, seq + 1)
        return bool(entries) and entries[0].deleted

    async def notify(
        self,
        users: Sequence[str],
        nid: str,
        push: Mapping[str, str] | None,
        data: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """Queue notification ``nid`` (``push``: its {title, body}; None: no push) for the
        offline ones among ``users``. Returns the users for whom a push was queued."""
        if push is None:
            return []
        built = for_notification(nid, push.get("title", ""), push.get("body", ""), data)

        async def content(user: str) -> PushContent:
            return built

        return await self._queue(users, content)

    async def like(self, owner: str, post: str, user: str, count: int) -> bool:
        """Queue a like push for ``owner`` if offline; True when one was queued."""
        built = for_like(post, user, count)

        async def content(_: str) -> PushContent:
            return built

        return bool(await self._queue([owner], content))

    async def remove_device(self, token: str) -> None:
        """Forget a token FCM called unregistered (the worker's ``on_unregistered``)."""
        if await self._store.remove_device(token):
            log.info("push: removed an unregistered device token")

    # -- internals -----------------------------------------------------------------------

    async def _queue(
        self, users: Sequence[str], content: Callable[[str], Awaitable[PushContent]],
        *, owed: int | None = None, thread: str | None = None,
    ) -> list[str]:
        """Jobs for the devices of the offline ones among ``users``; with ``owed``, as the
        discharge of the push owed by the message at that position; of a ``thread``'s
        activity, none for those who muted it."""
        try:
            offline = await self.offline_recipients(users) if users else []
            devices = await self._store.devices_of(offline) if offline else []
            by_user: dict[str, list[str]] = {}
            for device in devices:
                by_user.setdefault(device.user, []).append(device.token)
            if thread is not None and by_user:
                # Muting: no push of the thread while muted (live delivery is unchanged).
                for user in await self._store.muted(thread, list(by_user),
                                                    int(self._clock() * 1000)):
                    del by_user[user]
            messages: list[PushMessage] = []
            for user, tokens in by_user.items():
                built = await content(user)
                messages.extend(built.to(token) for token in tokens)
            if owed is not None:
                # Also with no jobs: the record says the decision is still to be made.
                if not await self._outbox.discharge(owed, messages, self._clock()):
                    return []
            elif messages:
                await self._outbox.enqueue(messages, self._clock())
        except Exception:
            log.exception("push: could not queue pushes")
            return []
        if not messages:
            return []
        if self.worker is not None:
            self.worker.wake()
        return [user for user in offline if user in by_user]

    async def _unread(self, user: str, thread: str) -> int:
        # The store answers unread counts per user, for all their threads: costly, but
        # paid only for offline recipients with a registered device.
        for summary in await self._store.threads_of(user):
            if summary.thread.id == thread:
                return summary.unread
        return 1
