"""`Publisher`: events onto the broker, addressed to users or to topics.

Every event is encoded once per publication, whatever the number of recipients. A
broker failure is never raised to the caller: what it carries is either ephemeral
(typing, presence, like counts), dropped, or owed to its recipients (messages,
receipts, notifications), retried. A retried message may arrive after later ones of
its thread: the receiving session orders them by ``seq`` (see ``realtime.feed``).
Retries are bounded; what they cannot deliver, recipients get by syncing from the store
(a broker that loses its connection makes every node close its sessions with 1013).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable

from realtime.broker.base import Broker, BrokerUnavailable
from realtime.broker.channels import THREADS_CHANNEL, topic_channel, user_channel
from realtime.events import (
    Disconnect,
    Event,
    MessageEvent,
    NotificationEvent,
    ReceiptEvent,
    Unwatch,
    encode_event,
)

log = logging.getLogger(__name__)

_OWED = (MessageEvent, ReceiptEvent, NotificationEvent, Unwatch, Disconnect)
"""Events worth retrying: the others are superseded by the next one anyway."""
RETRY_LIMIT = 10_000
"""Publications waiting for a retry at most; past it the oldest are dropped."""
RETRY_DELAYS = (0.05, 0.2, 0.5, 1.0, 2.0)
"""Seconds before each retry of a refused publication; then it is dropped."""


class Publisher:
    """Publishes events; ``start()`` runs the retry task, ``close()`` stops it."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self.failures = 0
        """Publications the broker refused since start (for metrics)."""
        self.dropped = 0
        """Owed publications given up on after their retries (recipients must sync)."""
        self._retries: deque[tuple[list[str], bytes, int]] = deque(maxlen=RETRY_LIMIT)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._retry_loop(), name="publisher-retries")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def to_users(self, users: Iterable[str], event: Event) -> bool:
        """Publish ``event`` to each user's sessions; False when the broker refused it."""
        return await self._publish([user_channel(u) for u in users], event)

    async def to_topic(self, topic: str, event: Event) -> bool:
        """Publish ``event`` to the followers of ``topic``."""
        return await self._publish([topic_channel(topic)], event)

    async def thread_changed(self, thread: str) -> bool:
        """Tell every node that the members of ``thread`` changed; False when the broker
        refused it (it is retried: meanwhile nodes that lost the broker trust no cache)."""
        return await self._send([THREADS_CHANNEL], thread.encode(), owed=True,
                                what="membership change")

    async def to_channel(self, channel: str, event: Event) -> bool:
        """Publish ``event`` to one node's own channel (see ``channels.reply_channel``)."""
        return await self._publish([channel], event)

    async def _publish(self, channels: list[str], event: Event) -> bool:
        if not channels:
            return True
        return await self._send(channels, encode_event(event), owed=isinstance(event, _OWED),
                                what=type(event).__name__)

    async def _send(self, channels: list[str], data: bytes, *, owed: bool, what: str) -> bool:
        try:
            await self._broker.publish(channels, data)
        except BrokerUnavailable:
            self.failures += 1
            if owed and self._task is not None:
                self._retries.append((channels, data, 0))
                self._wakeup.set()
            else:
                log.warning("broker unavailable: a %s for %d channels is dropped", what,
                            len(channels))
            return False
        return True

    async def _retry_loop(self) -> None:
        """Retry refused publications in rounds, waiting longer after each failed round."""
        failed_rounds = 0
        while True:
            if not self._retries:
                failed_rounds = 0
                await self._wakeup.wait()
                self._wakeup.clear()
            await asyncio.sleep(RETRY_DELAYS[min(failed_rounds, len(RETRY_DELAYS) - 1)])
            batch = list(self._retries)
            self._retries.clear()
            for index, (channels, data, _attempt) in enumerate(batch):
                try:
                    await self._broker.publish(channels, data)
                except BrokerUnavailable:
                    # Still away: the rest would be refused too; they wait for the next round.
                    failed_rounds += 1
                    for pending in batch[index:]:
                        self._retry_later(*pending)
                    break

    def _retry_later(self, channels: list[str], data: bytes, attempt: int) -> None:
        if attempt + 1 < len(RETRY_DELAYS):
            self._retries.append((channels, data, attempt + 1))
        else:
            self.dropped += 1
            log.warning("broker unavailable: a publication to %d channels is dropped after "
                        "retries; its recipients will sync", len(channels))
