"""In-process presence: a single node's view, which on one node is the whole truth."""

from __future__ import annotations

from collections.abc import Iterable

from presence.presence import Presence
from presence.table import PresenceTable


class MemoryPresence(Presence):
    """:class:`Presence` over a :class:`PresenceTable`, for a node without Redis."""

    def __init__(self) -> None:
        self._table = PresenceTable()

    async def join(self, user: str, session: str) -> bool:
        return self._table.join(user, session)

    async def leave(self, user: str, session: str) -> bool:
        return self._table.leave(user, session)

    async def online(self, users: Iterable[str]) -> set[str]:
        return self._table.online(users)
