"""Typing indicators: relayed to the other members of a thread, never stored.

The :class:`~presence.typing.TypingTracker` decides what is worth relaying; this
service authorizes, publishes, and ends indicators that expire (one owned task).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from presence.typing import TypingTracker
from realtime.events import TypingChange
from realtime.services.publisher import Publisher
from realtime.services.thread_cache import ThreadCache
from realtime.store.base import StoreUnavailable, Thread


class TypingService:
    def __init__(self, threads: ThreadCache, publisher: Publisher, *,
                 tracker: TypingTracker | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._threads = threads
        self._publisher = publisher
        self.tracker = tracker or TypingTracker()
        self._clock = clock

    async def typing(self, user: str, thread_id: str, on: bool) -> None:
        """``user`` says they are (not) typing in ``thread_id`` (members only)."""
        thread = await self._threads.member_thread(user, thread_id)
        relay = self.tracker.on(user, thread.id, self._clock()) if on else \
            self.tracker.off(user, thread.id)
        if relay:
            await self._relay(thread, user, on)

    async def message_sent(self, user: str, thread: Thread) -> None:
        """A message from ``user`` ends their typing in ``thread``."""
        if self.tracker.off(user, thread.id):
            await self._relay(thread, user, False)

    async def run_expiry(self, interval: float = 1.0) -> None:
        """End indicators nobody refreshed; runs until cancelled."""
        while True:
            await asyncio.sleep(interval)
            for user, thread_id in self.tracker.expire(self._clock()):
                try:
                    thread = await self._threads.get(thread_id)
                except StoreUnavailable:
                    continue  # the clients' own expiry ends it; nothing is owed
                if thread is not None:
                    await self._relay(thread, user, False)

    async def _relay(self, thread: Thread, user: str, on: bool) -> None:
        others = [m for m in thread.members if m != user]
        await self._publisher.to_users(others, TypingChange(thread=thread.id, user=user, on=on,
                                                            origin=None))
