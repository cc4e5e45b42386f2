"""Push for a node: the FCM sender, the durable outbox and the worker, built from config.

Push is on when ``REALTIME_FCM_CREDENTIALS`` names a service-account file. The outbox
lives in the store's own database, so that a message's commit records its owed push in
the same transaction: PostgreSQL tables shared by every node (each node's worker claims
with SKIP LOCKED), or tables of the embedded SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from push.fcm import FcmSender
from push.outbox_sqlite import SqliteOutbox
from push.worker import PushWorker
from realtime.backends import database_of, make_outbox
from realtime.config import Config
from realtime.services.push import OnlineCheck, PushService
from realtime.store.base import Store

log = logging.getLogger(__name__)

OWED_SWEEP = 5.0
"""Seconds between two looks for owed pushes nobody discharged (see :meth:`Push.recover`)."""
OWED_PAGE = 100
"""Owed pushes read at a time; at most ten pages per sweep, so that records whose
discharge keeps failing (presence or the store down) cannot keep a sweep busy."""
OWED_GRACE_MS = 5_000
"""Age of a message before another node's recovery may decide its push: the sending node
decides in milliseconds; racing it would only check presence earlier."""


class Push:
    """The push pipeline of one node. ``start()`` after the store opened; ``close()``
    before it closes."""

    def __init__(self, config: Config, store: Store, presence: OnlineCheck) -> None:
        self.sender = FcmSender(config.fcm_credentials, endpoint=config.fcm_endpoint or None)
        self.outbox = make_outbox(config)
        self.service = PushService(store, self.outbox, presence)
        self.worker = PushWorker(self.outbox, self.sender,
                                 on_unregistered=self.service.remove_device,
                                 withdrawn=self.service.withdrawn)
        self.service.worker = self.worker
        self.outbox_depth = 0
        """Jobs waiting in the outbox, as last sampled (metrics read it when scraped)."""
        self.outbox_oldest_age = 0.0
        """Seconds the oldest waiting job has waited, as last sampled."""
        self._sampler: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._legacy = legacy_outbox(config)

    async def _sample_outbox(self, interval: float = 5.0) -> None:
        while True:
            try:
                self.outbox_depth = await self.outbox.depth()
                self.outbox_oldest_age = await self.outbox.oldest_age(time.time())
            except Exception as exc:  # the gauges keep their last values
                log.warning("push outbox gauges not sampled: %s", exc)
            await asyncio.sleep(interval)

    async def recover(self) -> None:
        """Discharge the owed pushes of messages older than the grace that nobody did
        (their node died between the commit and the ack), every :data:`OWED_SWEEP`
        seconds, from the start: a node restarted after a crash finds its own."""
        while True:
            try:
                until = int(time.time() * 1000) - OWED_GRACE_MS
                for _ in range(10):
                    if await self.service.recover(until, OWED_PAGE) < OWED_PAGE:
                        break
            except Exception as exc:
                log.warning("push: owed pushes not recovered this time: %s", exc)
            await asyncio.sleep(OWED_SWEEP)

    async def start(self) -> None:
        await self.outbox.open()
        if self._legacy is not None and isinstance(self.outbox, SqliteOutbox):
            moved = await self.outbox.adopt(self._legacy)
            if moved:
                log.info("push: moved %d waiting pushes from %s into the store's database",
                         moved, self._legacy)
        await self.worker.start()
        self._sampler = asyncio.create_task(self._sample_outbox(), name="push-outbox-gauges")
        self._recovery = asyncio.create_task(self.recover(), name="push-owed-recovery")

    async def close(self) -> None:
        for task in (self._sampler, self._recovery):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        # The worker finishes its sends, then the sender's threads stop, then the outbox.
        await self.worker.close()
        await self.sender.close()
        await self.outbox.close()


def legacy_outbox(config: Config) -> Path | None:
    """Where earlier releases kept an SQLite node's outbox, in a file of its own."""
    database = database_of(config)
    if isinstance(database, str):
        return None
    if config.database_url:
        return database.with_suffix(".push.db")
    return Path(config.data_dir) / "push.db"
