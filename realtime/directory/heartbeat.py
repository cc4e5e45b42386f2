"""A node's heartbeat: what it tells the directory about itself and its sessions.

Sessions are recorded off their path: opening or closing one only appends to a list (no
await, no Redis round trip on a handshake), and every ``interval`` seconds the heartbeat
writes the changes, this node's :class:`NodeRecord` and a point of its stats in one go.
Other nodes therefore see a session up to ``interval`` seconds late; this node answers
about its own sessions from memory, at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

from realtime.directory.base import (
    Directory,
    DirectoryUnavailable,
    NodeRecord,
    Rates,
    SessionRecord,
)
from realtime.node_stats import StatsWindow, read_totals

log = logging.getLogger(__name__)

MAX_PENDING = 100_000
"""Session changes kept while the directory is unreachable; past it the oldest go."""


def server_version() -> str:
    """The installed version of the server distribution."""
    try:
        return metadata.version("realtime-server")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class NodeState:
    """What the node reports of itself on each beat."""

    sessions: int
    users: int
    draining: bool


class Heartbeat:
    """Publishes one node's record and session changes; ``start()`` then ``close()``."""

    def __init__(self, directory: Directory, node: str, *, interval: float,
                 state: Callable[[], NodeState]) -> None:
        self.directory = directory
        self.node = node
        self.version = server_version()
        self.started = now_ms()
        self.stats = StatsWindow()
        self._interval = interval
        self._state = state
        self._rates = Rates()
        self._opened: list[tuple[str, SessionRecord]] = []
        self._closed: list[tuple[str, str]] = []
        self._task: asyncio.Task[None] | None = None

    def record(self) -> NodeRecord:
        """This node's record as of now (its rates as of the last beat)."""
        state = self._state()
        return NodeRecord(node=self.node, version=self.version, started=self.started,
                          heartbeat=now_ms(), sessions=state.sessions, users=state.users,
                          rates=self._rates, draining=state.draining)

    def opened(self, user: str, session: SessionRecord) -> None:
        """Note an open session (written on the next beat)."""
        self._opened.append((user, session))
        del self._opened[:-MAX_PENDING]

    def closed(self, user: str, session: str) -> None:
        """Note a closed session (written on the next beat)."""
        self._closed.append((user, session))
        del self._closed[:-MAX_PENDING]

    async def start(self) -> None:
        """Connect the directory, beat once, and keep beating every ``interval``."""
        await self.directory.start()
        self.stats.add(now_ms(), read_totals(), self._state().sessions)
        await self.beat()
        self._task = asyncio.create_task(self._run(), name="heartbeat")

    async def close(self) -> None:
        """Stop beating, take this node out of the directory, disconnect. Idempotent."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            # Best effort: a node that cannot say goodbye drops out after the TTL.
            with contextlib.suppress(DirectoryUnavailable, TimeoutError):
                async with asyncio.timeout(2.0):
                    await self.directory.leave(self.node)
        await self.directory.close()

    async def beat(self) -> None:
        """Account the stats interval, then publish the record and the session changes;
        changes that could not be written are kept for the next beat."""
        now = now_ms()
        point = self.stats.add(now, read_totals(), self._state().sessions)
        if point is not None:
            self._rates = Rates(received=point.received, sent=point.sent,
                                errors=point.errors)
        opened, self._opened = self._opened, []
        closed, self._closed = self._closed, []
        try:
            await self.directory.publish(self.record())
            await self.directory.update(opened, closed)
        except DirectoryUnavailable as exc:
            log.warning("directory unavailable, heartbeat not published: %s", exc)
            self._opened[:0] = opened
            self._closed[:0] = closed

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.beat()
            except Exception:
                log.exception("heartbeat failed")
