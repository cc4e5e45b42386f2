"""`Publisher`: events onto the broker, addressed to users or to topics.

Every event is encoded once per publication, whatever the number of recipients. A
broker failure is logged, not raised: what it carries is either ephemeral (typing,
presence, like counts) or recoverable from the store (messages, receipts).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from realtime.broker.base import Broker, BrokerUnavailable
from realtime.broker.channels import topic_channel, user_channel
from realtime.events import Event, encode_event

log = logging.getLogger(__name__)


class Publisher:
    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self.failures = 0
        """Publications the broker refused since start (for metrics)."""

    async def to_users(self, users: Iterable[str], event: Event) -> bool:
        """Publish ``event`` to each user's sessions; False when the broker was unavailable."""
        return await self._publish([user_channel(u) for u in users], event)

    async def to_topic(self, topic: str, event: Event) -> bool:
        """Publish ``event`` to the followers of ``topic``."""
        return await self._publish([topic_channel(topic)], event)

    async def _publish(self, channels: list[str], event: Event) -> bool:
        if not channels:
            return True
        try:
            await self._broker.publish(channels, encode_event(event))
        except BrokerUnavailable:
            self.failures += 1
            log.warning("broker unavailable: a %s for %d channels is dropped",
                        type(event).__name__, len(channels))
            return False
        return True
