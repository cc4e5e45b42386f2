"""Presence for clients: transitions published to ``presence:<user>``, last seen stored.

A user's ``presence`` frame has ``last_seen`` null while they are online, and the
epoch-ms time they went offline otherwise (null if never seen).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from presence.presence import Presence
from realtime.events import PresenceChange
from realtime.services.publisher import Publisher
from realtime.store.base import Store


def presence_topic(user: str) -> str:
    return f"presence:{user}"


class PresenceService:
    def __init__(self, presence: Presence, store: Store, publisher: Publisher,
                 clock: Callable[[], int]) -> None:
        self.presence = presence
        presence.on_expired = self.expired
        self._store = store
        self._publisher = publisher
        self._clock = clock

    async def online(self, users: Iterable[str]) -> set[str]:
        """Those of ``users`` with a session on any node (raises what presence raises)."""
        return await self.presence.online(users)

    async def joined(self, user: str, session: str) -> None:
        """A session of ``user`` opened: followers learn when the user came online."""
        if await self.presence.join(user, session):
            await self._publisher.to_topic(presence_topic(user),
                                           PresenceChange(user=user, online=True, last_seen=None))

    async def left(self, user: str, session: str) -> None:
        """A session closed: when it was the user's last, store last seen and tell followers."""
        if await self.presence.leave(user, session):
            ts = self._clock()
            await self._store.set_last_seen(user, ts)
            await self._publisher.to_topic(presence_topic(user),
                                           PresenceChange(user=user, online=False, last_seen=ts))

    async def expired(self, user: str, ts: int) -> None:
        """``user``'s last session was on a node that crashed: they are offline since ``ts``."""
        await self._store.set_last_seen(user, ts)
        await self._publisher.to_topic(presence_topic(user),
                                       PresenceChange(user=user, online=False, last_seen=ts))

    async def states(self, users: Sequence[str]) -> list[PresenceChange]:
        """The current state of each of ``users``, in order."""
        online = await self.presence.online(users)
        seen = await self._store.last_seen([u for u in users if u not in online])
        return [
            PresenceChange(user=u, online=u in online,
                           last_seen=None if u in online else seen.get(u))
            for u in users
        ]

    async def may_watch(self, watcher: str, user: str) -> bool:
        """Whether ``watcher`` may follow ``user``'s presence: themselves, or a thread in
        common unless ``user`` blocks ``watcher``."""
        if watcher == user:
            return True
        # Blocking: a user the other one blocks may not see their presence.
        return (await self._store.shares_thread(watcher, user)
                and not await self._store.blockers(watcher, [user]))
