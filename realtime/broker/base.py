"""The `Broker`: moves bytes between nodes. Local delivery is the hub's job.

A node subscribes a channel when the first local session needs it and unsubscribes
when the last one leaves (the hub keeps the counts). Every channel name comes from
:mod:`realtime.broker.channels`.

Contract (every implementation, checked by ``tests/contracts/test_broker_contract.py``):

* :meth:`Broker.publish` hands ``data`` to the handler of every node subscribed to each
  channel, once per channel; publications from one node to one channel arrive in the
  order they were published. Nothing is stored: a node that is not subscribed at the
  time, or whose connection is down, misses the publication.
* A broker that loses its connection calls :meth:`BrokerHandler.broker_reset` once the
  connection is back, so the node can catch up from the store.
* ``publish`` to a channel nobody subscribed is a no-op, not an error. ``publish``
  raises :class:`BrokerUnavailable` when the broker cannot be reached.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Protocol


class BrokerUnavailable(Exception):
    """The broker cannot be reached; the publication was not delivered anywhere."""


class BrokerHandler(Protocol):
    """What the broker calls up into. The node implements it; the broker never imports it."""

    def publication(self, channel: str, data: bytes) -> None:
        """``data`` was published to ``channel``, which this node subscribed. Must not block."""

    def broker_reset(self) -> None:
        """The connection was lost and is back: publications in between may be lost."""


class Broker(abc.ABC):
    """Publish/subscribe between nodes."""

    @abc.abstractmethod
    async def start(self, handler: BrokerHandler) -> None:
        """Connect and start delivering publications to ``handler``."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop delivering and release connections. Idempotent."""

    @abc.abstractmethod
    async def subscribe(self, channel: str) -> None:
        """Receive publications to ``channel`` from now on. Idempotent."""

    @abc.abstractmethod
    async def unsubscribe(self, channel: str) -> None:
        """Stop receiving publications to ``channel``. Idempotent."""

    @abc.abstractmethod
    async def publish(self, channels: Sequence[str], data: bytes) -> None:
        """Publish ``data`` to each of ``channels`` (one round trip for all of them)."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise :class:`BrokerUnavailable` unless the broker answers (readiness)."""
