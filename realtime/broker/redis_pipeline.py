"""`PublishPipeline`: every ``PUBLISH`` a node asks for while one pipeline is on its way
leaves together in the next one.

A node publishes each message on its own: after a group commit, dozens of senders'
messages are published in the same instant. One pipeline each costs a round trip and
redis-py's per-call work (a pooled connection, a command stack, a reply parse) per
message; taken together they cost one. Publications also reach Redis in the order
they were asked for, since one pipeline at a time is in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import redis.asyncio as aioredis

from presence.redis_connection import cancel_and_wait

PIPELINE_MAX = 1000
"""Publications sent in one pipeline at most; the rest wait for the next one."""


class PipelineClosed(ConnectionError):
    """The pipeline was closed before a publication could be sent."""


class PublishPipeline:
    """Sends ``PUBLISH`` commands through ``client``, pipelining what is asked at once.

    :meth:`publish` returns once Redis has answered the pipeline that carried it, and
    raises what redis-py raised for that pipeline, or :class:`TimeoutError` once
    ``deadline`` seconds have passed (the publication still goes out, if Redis comes
    back: a hung Redis must not hold up acks). :meth:`close` stops the sending task; a
    publication still waiting gets :class:`PipelineClosed`.
    """

    def __init__(self, client: aioredis.Redis, *, deadline: float = 0.0) -> None:
        self._client = client
        self._deadline = deadline
        self._queued: list[tuple[str, bytes]] = []
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        """Each waiting caller's future, with the count of queued publications up to and
        including its own: a batch cut at ``PIPELINE_MAX`` answers whole callers only."""
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def publish(self, channels: Sequence[str], data: bytes) -> None:
        if self._closed:
            raise PipelineClosed("the publisher is closed")
        loop = self._loop
        if loop is None:
            # Kept: asyncio.get_running_loop() costs a getpid() call on Python 3.11.
            loop = self._loop = asyncio.get_running_loop()
        if self._task is None:
            self._task = loop.create_task(self._send_loop(), name="redis-publish")
        self._queued.extend((channel, data) for channel in channels)
        done: asyncio.Future[None] = loop.create_future()
        self._waiters.append((len(self._queued), done))
        self._wakeup.set()
        if self._deadline <= 0:
            await done
            return
        # A timer, not asyncio.timeout: a publication may be awaited outside any task
        # (an eager send's first step), where asyncio.timeout refuses to work.
        timer = loop.call_later(self._deadline, _expire, done)
        try:
            await done
        finally:
            timer.cancel()

    async def close(self) -> None:
        """Stop sending; fail whatever still waits. Idempotent."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task, "redis publish pipeline")
        self._answer(len(self._waiters), PipelineClosed("the publisher was closed"))
        self._queued.clear()

    async def _send_loop(self) -> None:
        # Checks _closed too: should redis-py swallow the cancellation of close() in the
        # middle of a pipeline, the loop still ends rather than wait for work forever.
        while not self._closed:
            if not self._waiters:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            # Whole callers only, so that each is answered by exactly one pipeline.
            callers = 1
            while (callers < len(self._waiters)
                   and self._waiters[callers][0] <= PIPELINE_MAX):
                callers += 1
            count = self._waiters[callers - 1][0]
            batch = self._queued[:count]
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for channel, data in batch:
                        pipe.publish(channel, data)
                    await pipe.execute()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._take(callers, count, exc)
            else:
                self._take(callers, count, None)

    def _take(self, callers: int, count: int, error: BaseException | None) -> None:
        del self._queued[:count]
        self._answer(callers, error)
        self._waiters = [(end - count, done) for end, done in self._waiters]

    def _answer(self, callers: int, error: BaseException | None) -> None:
        answered, self._waiters = self._waiters[:callers], self._waiters[callers:]
        for _, done in answered:
            if done.done():
                continue  # its caller was cancelled
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)


def _expire(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_exception(TimeoutError("Redis did not answer within the publish deadline"))
