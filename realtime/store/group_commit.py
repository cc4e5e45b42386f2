"""Group commit: many callers' writes share one transaction, committed by one task.

A :class:`GroupCommit` owns a writer task. :meth:`GroupCommit.submit` queues an item
and waits for its outcome; the writer takes everything queued (up to ``batch_max``)
and hands the batch to a commit function, which returns one outcome per item, in
order: a result, or the :class:`StoreError` of that item alone. An exception from the
commit function fails every item of the batch (as :class:`StoreUnavailable`).

A busy writer takes a batch when ``batch_max`` items wait, or once the oldest waiting
item has waited ``batch_window``, whichever comes first; a batch whose oldest item
already waited that long (it arrived during the previous commit) is taken at once. The
window paces a busy writer: without it, a writer whose commits take a millisecond
commits two or three items each time, and the per-batch cost (a round trip, the
driver's work, a wake-up) is paid per message. A writer that took no batch for a whole
window is quiet: it commits at once, since nothing suggests company is coming.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from realtime.store.base import StoreError, StoreUnavailable, failed_future

log = logging.getLogger(__name__)

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


@dataclass(slots=True)
class _Pending(Generic[ItemT, ResultT]):
    item: ItemT
    future: asyncio.Future[ResultT]
    queued: float
    """The loop's time when the item was submitted."""


class GroupCommit(Generic[ItemT, ResultT]):
    """Queues items and commits them in batches through ``commit``.

    ``name`` labels the task and the log lines. ``unavailable`` tells which exceptions
    of ``commit`` mean the database is unavailable (the others are logged as bugs).
    :meth:`start` once; :meth:`close` commits what is queued before returning.
    """

    def __init__(
        self,
        name: str,
        commit: Callable[[Sequence[ItemT]], Awaitable[Sequence[ResultT | StoreError]]],
        *,
        batch_max: int,
        batch_window: float,
        unavailable: Callable[[BaseException], bool] = lambda exc: False,
    ) -> None:
        if batch_max < 1:
            raise ValueError("batch_max must be at least 1")
        if batch_window < 0:
            raise ValueError("batch_window must not be negative")
        self.name = name
        self._commit_batch = commit
        self._unavailable = unavailable
        self._batch_max = batch_max
        self._batch_window = batch_window
        self._pending: deque[_Pending[ItemT, ResultT]] = deque()
        self._wakeup = asyncio.Event()
        self._full = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._last_taken = -math.inf
        """The loop's time when the last batch was taken."""
        self._loop: asyncio.AbstractEventLoop | None = None
        """The writer's loop, kept: on Python 3.11 ``asyncio.get_running_loop()`` makes a
        ``getpid()`` system call, a cost that showed per message in profiles."""
        self.batch_sizes: Counter[int] = Counter()
        """How many batches of each size were committed (for measurements)."""

    def start(self) -> None:
        """Start the writer task."""
        if self._task is not None:
            raise RuntimeError(f"{self.name} already started")
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._write_loop(), name=self.name)

    async def close(self) -> None:
        """Commit everything queued, then stop the writer task. Idempotent."""
        self._closing = True
        self._wakeup.set()
        self._full.set()
        if self._task is not None:
            await self._task

    async def submit(self, item: ItemT) -> ResultT:
        """Queue ``item`` and return its outcome once its batch has committed.

        Raise the item's :class:`StoreError`, or :class:`StoreUnavailable` when the
        batch failed or the writer is closing. A cancelled caller's item is dropped
        if its batch has not been taken yet.
        """
        return await self.submit_soon(item)

    def submit_soon(self, item: ItemT) -> asyncio.Future[ResultT]:
        """Queue ``item`` now; the future ends as :meth:`submit` would (cancelling it
        drops the item if its batch has not been taken yet)."""
        loop = self._loop
        if self._closing or loop is None:
            return failed_future(StoreUnavailable("the store is closed"))
        future: asyncio.Future[ResultT] = loop.create_future()
        self._pending.append(_Pending(item, future, loop.time()))
        self._wakeup.set()
        if len(self._pending) >= self._batch_max:
            self._full.set()
        return future

    async def _write_loop(self) -> None:
        try:
            while True:
                if not self._pending:
                    if self._closing:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                if self._batch_window > 0 and not self._closing:
                    await self._gather_more()
                count = min(len(self._pending), self._batch_max)
                batch = [self._pending.popleft() for _ in range(count)]
                assert self._loop is not None
                self._last_taken = self._loop.time()
                if len(self._pending) < self._batch_max:
                    self._full.clear()
                await self._commit(batch)
        finally:
            # Only reached with work left when the task is cancelled: nobody waits forever.
            self._fail(list(self._pending), StoreUnavailable("the store was stopped"))
            self._pending.clear()

    async def _gather_more(self) -> None:
        """Wait for the batch to fill, at most until its oldest item has waited
        ``batch_window``; not at all for a quiet writer."""
        if len(self._pending) >= self._batch_max:
            return
        assert self._loop is not None
        now = self._loop.time()
        deadline = self._pending[0].queued + self._batch_window
        if deadline <= now or now - self._last_taken > self._batch_window:
            return
        self._full.clear()
        try:
            async with asyncio.timeout_at(deadline):
                await self._full.wait()
        except TimeoutError:
            pass

    async def _commit(self, batch: list[_Pending[ItemT, ResultT]]) -> None:
        live = [entry for entry in batch if not entry.future.done()]
        if not live:
            return
        try:
            results = await self._commit_batch([entry.item for entry in live])
        except StoreUnavailable as exc:
            self._fail(live, exc)
            return
        except Exception as exc:
            if self._unavailable(exc):
                error = StoreUnavailable(f"{self.name}: {type(exc).__name__}: {exc}")
            else:
                log.exception("%s: a batch of %d failed", self.name, len(live))
                error = StoreUnavailable("the batch could not be committed")
            error.__cause__ = exc
            self._fail(live, error)
            return
        self.batch_sizes[len(live)] += 1
        for entry, result in zip(live, results, strict=True):
            if entry.future.done():
                continue
            if isinstance(result, StoreError):
                entry.future.set_exception(result)
            else:
                entry.future.set_result(result)

    @staticmethod
    def _fail(batch: list[_Pending[ItemT, ResultT]], error: StoreError) -> None:
        for entry in batch:
            if not entry.future.done():
                entry.future.set_exception(error)
