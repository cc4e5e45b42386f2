"""The in-process broker: one node, no network. Publications are delivered synchronously."""

from __future__ import annotations

from collections.abc import Sequence

from realtime.broker.base import Broker, BrokerHandler


class MemoryBroker(Broker):
    """A broker for a single node: publishing calls the handler directly, in order.

    Delivery happens before :meth:`publish` returns, so on one node a message is in every
    local session's queue by the time its sender is acked.
    """

    def __init__(self) -> None:
        self._handler: BrokerHandler | None = None
        self._channels: set[str] = set()

    async def start(self, handler: BrokerHandler) -> None:
        self._handler = handler

    async def close(self) -> None:
        self._handler = None
        self._channels.clear()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def publish(self, channels: Sequence[str], data: bytes) -> None:
        handler = self._handler
        if handler is None:
            return
        for channel in channels:
            if channel in self._channels:
                handler.publication(channel, data)

    async def ping(self) -> None:
        return None
