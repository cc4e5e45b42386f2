"""The hub: this node's sessions by user, and local delivery of what the broker brings.

The broker moves bytes between nodes; the hub fans them out to local sessions. It keeps
the reference counts behind broker subscriptions: a user's channel is subscribed when
their first session here attaches and dropped when their last one detaches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Protocol

import msgspec

from realtime.broker.base import Broker
from realtime.broker.channels import THREADS_CHANNEL, topic_channel, user_channel
from realtime.events import Delivery, Disconnect, decode_event

log = logging.getLogger(__name__)


class LocalSession(Protocol):
    """What the hub needs of a session."""

    id: str
    user: str

    def deliver(self, delivery: Delivery) -> None:
        """Queue ``delivery`` for the client. Must not block."""


class Hub:
    """Local sessions by user; implements the broker's handler."""

    def __init__(self, broker: Broker, *, on_reset: Callable[[], None] | None = None,
                 on_thread_changed: Callable[[str], None] | None = None,
                 on_disconnect: Callable[[Disconnect, int], None] | None = None) -> None:
        self._broker = broker
        self._on_reset = on_reset
        self._on_thread_changed = on_thread_changed
        self._on_disconnect = on_disconnect
        """Called after a disconnect reached this node's sessions of a user, with how many."""
        self._listeners: dict[str, Callable[[bytes], None]] = {}
        # A user's sessions in a list, not a set: almost always one or two, and a list is
        # a quarter of a set's size, which counts with tens of thousands of connections.
        self._by_user: dict[str, list[LocalSession]] = {}
        self._by_topic: dict[str, set[LocalSession]] = {}
        self._topics_of: dict[LocalSession, set[str]] = {}
        # The same containers by channel name: a publication is routed with one lookup.
        self._by_channel: dict[str, list[LocalSession] | set[LocalSession]] = {}
        # A publication to many local users arrives once per channel with the same bytes
        # (in-process) or equal bytes (Redis): decode and encode it once for all of them.
        self._last_data: bytes | None = None
        self._last_delivery: Delivery | None = None

    # -- sessions --------------------------------------------------------------------

    async def attach(self, session: LocalSession) -> None:
        """Register ``session``; returns once its user's publications reach this node."""
        sessions = self._by_user.get(session.user)
        if sessions is None:
            channel = user_channel(session.user)
            self._by_user[session.user] = self._by_channel[channel] = [session]
            await self._broker.subscribe(channel)
        elif session not in sessions:
            sessions.append(session)

    async def detach(self, session: LocalSession) -> None:
        """Forget ``session`` and its topics; the last of a user's sessions drops the
        subscription."""
        for topic in list(self._topics_of.get(session, ())):
            await self.unfollow(session, topic)
        sessions = self._by_user.get(session.user)
        if sessions is None or session not in sessions:
            return
        sessions.remove(session)
        if not sessions:
            channel = user_channel(session.user)
            del self._by_user[session.user], self._by_channel[channel]
            await self._broker.unsubscribe(channel)

    async def follow(self, session: LocalSession, topic: str) -> None:
        """Deliver ``topic``'s publications to ``session`` too. Idempotent."""
        self._topics_of.setdefault(session, set()).add(topic)
        sessions = self._by_topic.get(topic)
        if sessions is None:
            channel = topic_channel(topic)
            self._by_topic[topic] = self._by_channel[channel] = {session}
            await self._broker.subscribe(channel)
        else:
            sessions.add(session)

    async def unfollow(self, session: LocalSession, topic: str) -> None:
        """Stop delivering ``topic`` to ``session``. Idempotent."""
        topics = self._topics_of.get(session)
        if topics is not None:
            topics.discard(topic)
            if not topics:
                del self._topics_of[session]
        sessions = self._by_topic.get(topic)
        if sessions is None or session not in sessions:
            return
        sessions.discard(session)
        if not sessions:
            channel = topic_channel(topic)
            del self._by_topic[topic], self._by_channel[channel]
            await self._broker.unsubscribe(channel)

    async def listen(self, channel: str, listener: Callable[[bytes], None]) -> None:
        """Hand publications to ``channel`` (no session's: the node's own) to
        ``listener``, which must not block."""
        self._listeners[channel] = listener
        await self._broker.subscribe(channel)

    async def unlisten(self, channel: str) -> None:
        if self._listeners.pop(channel, None) is not None:
            await self._broker.unsubscribe(channel)

    def topics_of(self, session: LocalSession) -> frozenset[str]:
        """The topics ``session`` follows."""
        return frozenset(self._topics_of.get(session, ()))

    def count(self, user: str) -> int:
        """How many sessions ``user`` has on this node."""
        return len(self._by_user.get(user, ()))

    def users(self) -> int:
        return len(self._by_user)

    def sessions(self) -> Iterator[LocalSession]:
        for sessions in list(self._by_user.values()):
            yield from list(sessions)

    def is_online(self, user: str) -> bool:
        return user in self._by_user

    # -- broker handler --------------------------------------------------------------

    def publication(self, channel: str, data: bytes) -> None:
        sessions = self._by_channel.get(channel)
        if not sessions:
            if channel == THREADS_CHANNEL and self._on_thread_changed is not None:
                self._on_thread_changed(data.decode(errors="replace"))
                return
            listener = self._listeners.get(channel)
            if listener is not None:
                listener(data)
            return
        delivery = self._decode(data)
        if delivery is None:
            return
        origin = delivery.origin
        # No copy: deliver() never waits, and only attach/detach/follow/unfollow (which
        # do) change these containers.
        for session in sessions:
            if session.id != origin:
                session.deliver(delivery)
        if self._on_disconnect is not None and type(delivery.event) is Disconnect:
            self._on_disconnect(delivery.event, len(sessions))

    def broker_reset(self) -> None:
        if self._on_reset is not None:
            self._on_reset()

    def _decode(self, data: bytes) -> Delivery | None:
        if data is self._last_data or data == self._last_data:
            return self._last_delivery
        try:
            event = decode_event(data)
        except msgspec.DecodeError:
            log.warning("dropped an undecodable publication (%d bytes)", len(data))
            return None
        delivery = Delivery(event)
        self._last_data, self._last_delivery = data, delivery
        return delivery
