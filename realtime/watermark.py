"""`Watermark`: the newest position whose publication has surely reached this node.

In a cluster, messages committed by different nodes may be published, and so arrive,
out of position order. A session's cursor must never claim a position it has not
seen (a reconnect would skip it), so its base only moves up to a *settled* position:
one committed at least ``settle`` seconds ago, whose publication has arrived by then or
was lost (a lost connection resets the sessions, which then resync from the store).

The watermark samples the store's head periodically and answers with the newest
sample old enough. On one node with the in-process broker, delivery happens in commit
order, so no watermark is needed (``ordered``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from realtime.store.base import Store, StoreUnavailable

log = logging.getLogger(__name__)


class Watermark:
    def __init__(self, store: Store, *, ordered: bool, settle: float = 1.0,
                 interval: float = 0.1, clock: Callable[[], float] = time.monotonic) -> None:
        self.ordered = ordered
        self._store = store
        self._settle = settle
        self._interval = interval
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()
        self._settled = 0

    def settled(self) -> int:
        """A position at or below which every publication has reached this node."""
        now = self._clock()
        samples = self._samples
        while len(samples) > 1 and now - samples[1][0] >= self._settle:
            samples.popleft()
        if samples and now - samples[0][0] >= self._settle:
            self._settled = max(self._settled, samples[0][1])
        return self._settled

    def sample(self, head: int) -> None:
        """Record the store's head as read now."""
        self._samples.append((self._clock(), head))

    async def run(self) -> None:
        """Sample the head every ``interval`` seconds until cancelled."""
        while True:
            try:
                self.sample(await self._store.head())
            except StoreUnavailable:
                pass  # no new sample: the watermark waits, it never guesses
            except Exception:
                # Whatever went wrong, this loop must live on: if it stopped, every
                # cursor's base on this node would stop moving.
                log.exception("watermark: reading the store's head failed")
            await asyncio.sleep(self._interval)
