"""Push for a node: the FCM sender, the durable outbox and the worker, built from config.

Push is on when ``REALTIME_FCM_CREDENTIALS`` names a service-account file. The outbox
lives where the messages do: a PostgreSQL table shared by every node (each node's worker
claims with SKIP LOCKED), or an SQLite file beside the embedded store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from push.fcm import FcmSender
from push.outbox import Outbox
from push.outbox_postgres import PostgresOutbox
from push.outbox_sqlite import SqliteOutbox
from push.worker import PushWorker
from realtime.config import Config
from realtime.services.push import OnlineCheck, PushService
from realtime.store.base import Store

log = logging.getLogger(__name__)


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

    async def _sample_outbox(self, interval: float = 5.0) -> None:
        while True:
            try:
                self.outbox_depth = await self.outbox.depth()
                self.outbox_oldest_age = await self.outbox.oldest_age(time.time())
            except Exception as exc:  # the gauges keep their last values
                log.warning("push outbox gauges not sampled: %s", exc)
            await asyncio.sleep(interval)

    async def start(self) -> None:
        await self.outbox.open()
        await self.worker.start()
        self._sampler = asyncio.create_task(self._sample_outbox(), name="push-outbox-gauges")

    async def close(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        # The worker finishes its sends, then the sender's threads stop, then the outbox.
        await self.worker.close()
        await self.sender.close()
        await self.outbox.close()


def make_outbox(config: Config) -> Outbox:
    url = config.database_url
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresOutbox(url)
    if url.startswith("sqlite:///"):
        return SqliteOutbox(Path(url.removeprefix("sqlite:///")).with_suffix(".push.db"))
    return SqliteOutbox(Path(config.data_dir) / "push.db")
