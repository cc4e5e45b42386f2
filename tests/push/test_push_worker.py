"""The PushWorker with the real FcmSender against the fake FCM, on real outboxes.

Time in the outbox is a clock the test moves; the worker's polling is real but short.
Tests wait on the worker's progress or the fake's requests, never on a sleep.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from push.fcm import FcmSender
from push.messages import PushMessage, for_chat_message
from push.outbox import Outbox
from push.outbox_postgres import PostgresOutbox
from push.outbox_sqlite import SqliteOutbox
from push.retry import RetryPolicy
from push.worker import PushWorker
from tests.fixtures.fake_fcm import INTERNAL, INVALID, UNREGISTERED, FcmSetup, throttled

LEASE = 30.0


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


WorkerFactory = Callable[..., Awaitable[PushWorker]]


@pytest.fixture
async def sender(fake_fcm: FcmSetup) -> AsyncIterator[FcmSender]:
    sender = FcmSender(fake_fcm.credentials_path, endpoint=fake_fcm.endpoint, timeout=5)
    yield sender
    await sender.close()


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[SqliteOutbox]:
    outbox = SqliteOutbox(tmp_path / "node.sqlite3", lease=LEASE)
    await outbox.open()
    yield outbox
    await outbox.close()


@pytest.fixture
def removed() -> list[str]:
    return []


@pytest.fixture
async def start_worker(sender: FcmSender, removed: list[str]) -> AsyncIterator[WorkerFactory]:
    workers: list[PushWorker] = []

    async def forget(token: str) -> None:
        removed.append(token)

    async def start(outbox: Outbox, clock: Clock, **options: object) -> PushWorker:
        options.setdefault("sender", sender)
        worker = PushWorker(
            outbox,
            on_unregistered=forget,
            clock=clock,
            policy=RetryPolicy(max_attempts=3, base_delay=1.0),
            jitter=lambda: 0.0,
            poll_interval=0.02,
            **options,  # type: ignore[arg-type]
        )
        await worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        await worker.close()


def chat(token: str) -> PushMessage:
    return for_chat_message("t1", "alice", "hello", 1).to(token)


async def test_a_push_is_delivered_exactly_once(
    outbox: SqliteOutbox, start_worker: WorkerFactory, fake_fcm: FcmSetup
) -> None:
    clock = Clock()
    await outbox.enqueue([chat("d1")], clock())
    worker = await start_worker(outbox, clock)
    worker.wake()
    await worker.wait_until(lambda: worker.sent == 1)
    await worker.close()
    assert len(fake_fcm.fake.sends) == 1
    assert fake_fcm.fake.delivered_to("d1") == 1
    assert await outbox.depth() == 0


async def test_an_unregistered_token_is_removed_and_never_retried(
    outbox: SqliteOutbox, start_worker: WorkerFactory, fake_fcm: FcmSetup, removed: list[str]
) -> None:
    clock = Clock()
    fake_fcm.fake.script("dead", UNREGISTERED)
    await outbox.enqueue([chat("dead")], clock())
    worker = await start_worker(outbox, clock)
    await worker.wait_until(lambda: worker.unregistered == 1)
    assert removed == ["dead"]
    assert await outbox.depth() == 0
    clock.now += 3600
    assert await outbox.claim(10, clock()) == []
    assert len(fake_fcm.fake.sends_to("dead")) == 1


async def test_a_throttled_push_waits_for_retry_after_then_is_delivered_once(
    outbox: SqliteOutbox, start_worker: WorkerFactory, fake_fcm: FcmSetup
) -> None:
    clock = Clock()
    fake_fcm.fake.script("d1", throttled(20))
    await outbox.enqueue([chat("d1")], clock())
    worker = await start_worker(outbox, clock)
    await worker.wait_until(lambda: worker.retried == 1)
    # Not due before Retry-After has passed on the outbox's clock.
    assert await outbox.claim(10, clock.now + 19) == []
    clock.now += 20
    worker.wake()
    await worker.wait_until(lambda: worker.sent == 1)
    assert [send.status for send in fake_fcm.fake.sends_to("d1")] == [429, 200]


async def test_a_server_error_is_retried_with_backoff_then_delivered_once(
    outbox: SqliteOutbox, start_worker: WorkerFactory, fake_fcm: FcmSetup
) -> None:
    clock = Clock()
    fake_fcm.fake.script("d1", INTERNAL, INTERNAL)
    await outbox.enqueue([chat("d1")], clock())
    worker = await start_worker(outbox, clock)
    await worker.wait_until(lambda: worker.retried == 1)
    clock.now += 0.5  # base 1 s, no jitter: half of it is fixed
    worker.wake()
    await worker.wait_until(lambda: worker.retried == 2)
    clock.now += 1.0
    worker.wake()
    await worker.wait_until(lambda: worker.sent == 1)
    assert [send.status for send in fake_fcm.fake.sends_to("d1")] == [500, 500, 200]


async def test_a_push_that_keeps_failing_is_given_up_after_max_attempts(
    outbox: SqliteOutbox, start_worker: WorkerFactory, fake_fcm: FcmSetup
) -> None:
    clock = Clock()
    fake_fcm.fake.script("d1", INTERNAL, INTERNAL, INTERNAL)
    await outbox.enqueue([chat("d1")], clock())
    worker = await start_worker(outbox, clock)
    for attempt in (1, 2):
        await worker.wait_until(lambda n=attempt: worker.retried == n)
        clock.now += 10
        worker.wake()
    await worker.wait_until(lambda: worker.failed == 1)
    assert await outbox.depth() == 0
    assert len(fake_fcm.fake.sends_to("d1")) == 3


async def test_an_invalid_push_is_given_up_at_once(
    outbox: SqliteOutbox, start_worker: WorkerFactory, fake_fcm: FcmSetup
) -> None:
    clock = Clock()
    fake_fcm.fake.script("d1", INVALID)
    await outbox.enqueue([chat("d1")], clock())
    worker = await start_worker(outbox, clock)
    await worker.wait_until(lambda: worker.failed == 1)
    assert worker.retried == 0
    assert await outbox.depth() == 0


async def test_a_push_claimed_by_a_crashed_worker_is_sent_after_its_lease(
    tmp_path: Path, start_worker: WorkerFactory, fake_fcm: FcmSetup
) -> None:
    clock = Clock()
    path = tmp_path / "node.sqlite3"
    crashed = SqliteOutbox(path, lease=LEASE)
    await crashed.open()
    await crashed.enqueue([chat("d1")], clock())
    assert len(await crashed.claim(10, clock())) == 1  # claimed, never settled
    await crashed.close()

    restarted = SqliteOutbox(path, lease=LEASE)
    await restarted.open()
    try:
        clock.now += LEASE
        worker = await start_worker(restarted, clock)
        await worker.wait_until(lambda: worker.sent == 1)
        assert fake_fcm.fake.delivered_to("d1") == 1
    finally:
        await worker.close()
        await restarted.close()


async def test_two_workers_on_one_postgres_outbox_never_send_a_job_twice(
    postgres_dsn: str, start_worker: WorkerFactory, fake_fcm: FcmSetup
) -> None:
    clock = Clock()
    outboxes = [PostgresOutbox(postgres_dsn, lease=LEASE) for _ in range(2)]
    senders = [
        FcmSender(fake_fcm.credentials_path, endpoint=fake_fcm.endpoint, workers=4)
        for _ in range(2)
    ]
    for outbox in outboxes:
        await outbox.open()
    try:
        tokens = [f"d{i}" for i in range(60)]
        await outboxes[0].enqueue([chat(token) for token in tokens], clock())
        workers = [
            await start_worker(outbox, clock, sender=sender, concurrency=4)
            for outbox, sender in zip(outboxes, senders, strict=True)
        ]
        await fake_fcm.fake.wait_sends(len(tokens))
        for worker in workers:
            # Every job was sent; wait for each worker to settle its last ones.
            await worker.wait_until(lambda w=worker: w.in_flight == 0)
            await worker.close()
        assert all(worker.sent > 0 for worker in workers)  # both took part
        assert sorted(send.token for send in fake_fcm.fake.sends) == sorted(tokens)
        assert fake_fcm.fake.overlaps == []
        assert await outboxes[1].depth() == 0
    finally:
        for sender in senders:
            await sender.close()
        for outbox in outboxes:
            await outbox.close()


async def test_a_withdrawn_push_is_dropped_unsent(
    outbox: SqliteOutbox, start_worker: WorkerFactory, fake_fcm: FcmSetup
) -> None:
    clock = Clock()
    gone = for_chat_message("t1", "alice", "sent by mistake", 1, seq=7).to("d1")
    kept = for_chat_message("t2", "alice", "still here", 1, seq=8).to("d2")
    await outbox.enqueue([gone, kept], clock())

    async def withdrawn(message: PushMessage) -> bool:
        return message.data.get("seq") == "7"

    worker = await start_worker(outbox, clock, withdrawn=withdrawn)
    await worker.wait_until(lambda: worker.dropped_withdrawn == 1 and worker.sent == 1)
    assert fake_fcm.fake.delivered_to("d1") == 0 and fake_fcm.fake.delivered_to("d2") == 1
    assert await outbox.depth() == 0


async def test_a_push_whose_withdrawal_cannot_be_checked_waits_and_is_not_sent(
    outbox: SqliteOutbox, start_worker: WorkerFactory, fake_fcm: FcmSetup
) -> None:
    clock = Clock()
    await outbox.enqueue([chat("d1")], clock())
    asked = 0

    async def withdrawn(message: PushMessage) -> bool:
        nonlocal asked
        asked += 1
        raise ConnectionError("the store is down")

    worker = await start_worker(outbox, clock, withdrawn=withdrawn)
    await worker.wait_until(lambda: asked >= 1)
    assert fake_fcm.fake.sends == []
    assert await outbox.depth() == 1
