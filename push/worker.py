"""`PushWorker`: claims due jobs from an outbox, sends them, and settles each one.

One loop task claims at most as many jobs as there are free send slots
(``concurrency``), starts a send task per job, and waits for a slot to free up, a
:meth:`PushWorker.wake` (new jobs were enqueued) or ``poll_interval`` (retries come due,
other nodes enqueue). Each send's outcome goes through the retry policy:

* delivered: the job is completed;
* retry: the job is given back, due after the policy's delay;
* dead token: ``on_unregistered(token)`` lets the node forget the device, then the job
  is dropped;
* give up: the job is dropped and the reason logged (an error for configuration
  problems such as rejected credentials, which every later push will hit too);
* withdrawn (``withdrawn(message)`` says so before the send: the message it announces
  was unsent): the job is dropped unsent.

Delivery is at least once: if this process dies between the send and the settling, the
job's lease runs out and a worker (this one restarted, or another node's) sends it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable

from push.messages import PushMessage
from push.outbox import Outbox, PushJob
from push.retry import Decision, DropToken, GiveUp, Retry, RetryPolicy
from push.sender import Sender, SendResult, Unavailable

log = logging.getLogger(__name__)

WITHDRAWN_RETRY = 5.0
"""Seconds before a job whose withdrawal could not be checked is tried again."""


class PushWorker:
    """Sends what an :class:`~push.outbox.Outbox` holds through a :class:`~push.sender.Sender`.

    :meth:`start` starts the loop; :meth:`close` stops it. The worker owns neither the
    outbox nor the sender: close the worker first, then them.

    Counters, for metrics: :attr:`sent`, :attr:`retried`, :attr:`failed` (given up),
    :attr:`unregistered` (dead tokens), :attr:`errors` (outbox or callback failures).
    """

    def __init__(
        self,
        outbox: Outbox,
        sender: Sender,
        *,
        on_unregistered: Callable[[str], Awaitable[None]],
        withdrawn: Callable[[PushMessage], Awaitable[bool]] | None = None,
        concurrency: int = 8,
        clock: Callable[[], float] = time.time,
        policy: RetryPolicy | None = None,
        jitter: Callable[[], float] = random.random,
        poll_interval: float = 1.0,
        drain_timeout: float = 10.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.outbox = outbox
        self.sender = sender
        self.on_unregistered = on_unregistered
        self.withdrawn = withdrawn
        self.concurrency = concurrency
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.jitter = jitter
        self.poll_interval = poll_interval
        self.drain_timeout = drain_timeout
        self.sent = 0
        self.retried = 0
        self.failed = 0
        self.unregistered = 0
        self.dropped_withdrawn = 0
        self.errors = 0
        self._wakeup = asyncio.Event()
        self._progress = asyncio.Event()
        self._sends: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> int:
        """Sends started and not yet settled."""
        return len(self._sends)

    async def start(self) -> None:
        """Start claiming and sending. Call once."""
        if self._loop_task is not None:
            raise RuntimeError("the worker is already started")
        self._loop_task = asyncio.create_task(self._run(), name="push-worker")

    def wake(self) -> None:
        """Look for due jobs now rather than at the next poll (call after an enqueue)."""
        self._wakeup.set()

    async def close(self) -> None:
        """Stop claiming; give sends in flight ``drain_timeout`` seconds to settle, then
        cancel them (their jobs come back when their leases run out). Idempotent."""
        # Stop the loop first, so no new send starts while we wait for the old ones.
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._sends:
            await asyncio.wait(set(self._sends), timeout=self.drain_timeout)
        for send in set(self._sends):
            send.cancel()
        if self._sends:
            await asyncio.gather(*self._sends, return_exceptions=True)

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Return once ``condition()`` holds; it is checked after every settled job."""
        while not condition():
            self._progress.clear()
            await self._progress.wait()

    # -- the loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            # Cleared before claiming: a wake() during the claim is kept for the wait.
            self._wakeup.clear()
            free = self.concurrency - len(self._sends)
            if free > 0:
                for job in await self._claim(free):
                    send = asyncio.create_task(self._handle(job), name=f"push-{job.id}")
                    self._sends.add(send)
                    send.add_done_callback(self._finished)
            # Not asyncio.wait_for: on 3.11 it swallows a cancellation that arrives just
            # as the event is set, and close() would wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval):
                    await self._wakeup.wait()

    async def _claim(self, limit: int) -> list[PushJob]:
        try:
            return await self.outbox.claim(limit, self.clock())
        except Exception:
            # The outbox's database is down: nothing is lost, try again at the next poll.
            self.errors += 1
            log.exception("push outbox: claim failed")
            return []

    def _finished(self, send: asyncio.Task[None]) -> None:
        self._sends.discard(send)
        self._wakeup.set()  # a slot is free
        self._progress.set()

    async def _handle(self, job: PushJob) -> None:
        if self.withdrawn is not None:
            try:
                gone = await self.withdrawn(job.message)
            except Exception:
                # Unknown: neither send what may be erased content nor lose the push.
                log.warning("push: could not check whether job %s was withdrawn", job.id,
                            exc_info=True)
                try:
                    await self.outbox.retry(job, self.clock() + WITHDRAWN_RETRY)
                except Exception:
                    self.errors += 1
                return
            if gone:
                try:
                    await self.outbox.drop(job)
                    self.dropped_withdrawn += 1
                except Exception:
                    self.errors += 1
                    log.exception("push outbox: could not drop withdrawn job %s", job.id)
                return
        try:
            result = await self.sender.send(job.message)
        except Exception as error:
            # A sender must not raise; if one does, treat it as an outage, not a crash.
            log.exception("push sender raised")
            result = Unavailable(reason=f"sender raised {type(error).__name__}")
        decision = self.policy.decide(job.attempt, result, self.jitter)
        try:
            await self._settle(job, result, decision)
        except Exception:
            # Unsettled, the job comes back when its lease runs out: at least once.
            self.errors += 1
            log.exception("push outbox: could not settle job %s", job.id)

    async def _settle(self, job: PushJob, result: SendResult, decision: Decision) -> None:
        match decision:
            case Retry(delay=delay):
                await self.outbox.retry(job, self.clock() + delay)
                self.retried += 1
            case DropToken():
                try:
                    await self.on_unregistered(job.message.token)
                except Exception:
                    self.errors += 1
                    log.exception("push: removing an unregistered device failed")
                await self.outbox.drop(job)
                self.unregistered += 1
            case GiveUp(reason=reason, configuration_error=configuration_error):
                level = logging.ERROR if configuration_error else logging.WARNING
                log.log(level, "push: giving up on job %s: %s", job.id, reason)
                await self.outbox.drop(job)
                self.failed += 1
            case _:
                await self.outbox.complete(job, self.clock())
                self.sent += 1
