"""`InFlight`: one connection's sends and changes awaiting their commit or publication.

Bounded: past ``limit`` the connection stops reading until one is done (backpressure).
The futures are the store's commit waits and, only where publishing must wait, the
tasks that finish a send: the connection awaits them all before it closes, so a send
handed to the store is carried through even when nobody can read its ack.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

MAX_IN_FLIGHT = 256
"""Sends awaiting their commit per session; past it the session stops reading (backpressure)."""


class InFlight:
    """What one connection has handed to the store and not yet answered. Made in the
    event loop that runs it."""

    __slots__ = ("_futures", "_loop", "limit")

    def __init__(self, limit: int = MAX_IN_FLIGHT) -> None:
        self.limit = limit
        self._futures: set[asyncio.Future[Any]] = set()
        self._loop = asyncio.get_running_loop()
        """Kept for the tasks of sends whose publishing waits: on Python 3.11
        ``asyncio.create_task`` looks the loop up with a ``getpid()`` system call."""

    def __len__(self) -> int:
        return len(self._futures)

    async def room(self) -> None:
        """Wait until fewer than ``limit`` are in flight."""
        if len(self._futures) >= self.limit:
            await asyncio.wait(self._futures, return_when=asyncio.FIRST_COMPLETED)

    def add(self, future: asyncio.Future[Any]) -> None:
        """Count ``future`` in flight until it is done."""
        self._futures.add(future)
        future.add_done_callback(self._futures.discard)

    def discard(self, future: asyncio.Future[Any]) -> None:
        """No longer count ``future`` (done, or handed over to a task that is counted)."""
        self._futures.discard(future)

    def start(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in a task counted in flight."""
        self.add(self._loop.create_task(coro))

    async def drain(self) -> None:
        """Wait until nothing is in flight, whatever each one's outcome; one that ends by
        starting another (a commit whose publishing must wait) is waited for too."""
        while self._futures:
            await asyncio.gather(*self._futures, return_exceptions=True)
