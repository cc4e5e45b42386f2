"""The directory of a single node (no Redis): everything lives in this process."""

from __future__ import annotations

from collections.abc import Sequence

from realtime.directory.base import Directory, NodeRecord, SessionRecord, alive


class MemoryDirectory(Directory):
    """Nodes and sessions in dictionaries: enough for one node, and for tests."""

    def __init__(self, *, ttl: float = 15.0) -> None:
        self._ttl = ttl
        self._nodes: dict[str, NodeRecord] = {}
        self._sessions: dict[str, dict[str, SessionRecord]] = {}

    async def publish(self, record: NodeRecord) -> None:
        self._nodes[record.node] = record

    async def leave(self, node: str) -> None:
        self._nodes.pop(node, None)

    async def nodes(self, now: int) -> list[NodeRecord]:
        return sorted((r for r in self._nodes.values() if alive(r, now, self._ttl)),
                      key=lambda r: r.node)

    async def update(self, opened: Sequence[tuple[str, SessionRecord]],
                     closed: Sequence[tuple[str, str]]) -> None:
        for user, record in opened:
            self._sessions.setdefault(user, {})[record.session] = record
        for user, session in closed:
            sessions = self._sessions.get(user)
            if sessions is not None:
                sessions.pop(session, None)
                if not sessions:
                    del self._sessions[user]

    async def sessions(self, user: str, now: int) -> list[SessionRecord]:
        live = {r.node for r in await self.nodes(now)}
        found = self._sessions.get(user, {}).values()
        return sorted((s for s in found if s.node in live),
                      key=lambda s: (s.connected, s.session))
