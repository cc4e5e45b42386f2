"""`TimedBroker`: a :class:`~realtime.broker.base.Broker` that times another one's
publications into ``realtime_broker_publish_duration_seconds``.

The node hands it to the publisher, so every publication is measured whatever the
backend; failed publications are measured too (an outage shows as slow, then refused).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from realtime import metrics
from realtime.broker.base import Broker, BrokerHandler


class TimedBroker(Broker):
    """Forwards every call to ``inner``; records how long each ``publish`` took."""

    def __init__(self, inner: Broker) -> None:
        self.inner = inner

    async def start(self, handler: BrokerHandler) -> None:
        await self.inner.start(handler)

    async def close(self) -> None:
        await self.inner.close()

    async def subscribe(self, channel: str) -> None:
        await self.inner.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        await self.inner.unsubscribe(channel)

    async def publish(self, channels: Sequence[str], data: bytes) -> None:
        started = time.perf_counter()
        try:
            await self.inner.publish(channels, data)
        finally:
            metrics.BROKER_PUBLISH_DURATION.observe(time.perf_counter() - started)

    async def ping(self) -> None:
        await self.inner.ping()
