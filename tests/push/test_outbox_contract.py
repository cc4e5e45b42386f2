"""The Outbox contract, run against every backend: memory, SQLite, PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from push.messages import PushMessage, for_chat_message, for_like
from push.outbox import Outbox
from push.outbox_memory import MemoryOutbox
from push.outbox_postgres import PostgresOutbox
from push.outbox_sqlite import SqliteOutbox

LEASE = 30.0
WINDOW = 100.0

OutboxFactory = Callable[[], Outbox]


def chat(token: str, body: str = "hi", thread: str = "t1", unread: int = 1) -> PushMessage:
    return for_chat_message(thread, "alice", body, unread).to(token)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def outbox_location(request: pytest.FixtureRequest, tmp_path: Path) -> OutboxFactory:
    """Builds unopened outboxes on one fresh location of each backend in turn."""
    if request.param == "memory":
        shared = MemoryOutbox(lease=LEASE, dedupe_window=WINDOW)
        return lambda: shared
    if request.param == "sqlite":
        path = tmp_path / "node.sqlite3"
        return lambda: SqliteOutbox(path, lease=LEASE, dedupe_window=WINDOW)
    dsn = request.getfixturevalue("postgres_dsn")
    return lambda: PostgresOutbox(dsn, lease=LEASE, dedupe_window=WINDOW)


@pytest.fixture
async def outbox_factory(outbox_location: OutboxFactory) -> AsyncIterator[OutboxFactory]:
    """:func:`outbox_location`'s builder; every outbox it built is closed after the test."""
    built: list[Outbox] = []

    def build() -> Outbox:
        built.append(outbox_location())
        return built[-1]

    yield build
    for outbox in built:
        await outbox.close()


@pytest.fixture
async def outbox(outbox_factory: OutboxFactory) -> Outbox:
    outbox = outbox_factory()
    await outbox.open()
    return outbox


async def test_an_enqueued_push_is_claimed_with_its_message(outbox: Outbox) -> None:
    assert await outbox.enqueue([chat("d1")], now=10.0) == 1
    [job] = await outbox.claim(10, now=10.0)
    assert job.message == chat("d1")
    assert job.attempt == 1
    assert job.enqueued_at == 10.0


async def test_a_job_is_not_claimed_before_it_is_due(outbox: Outbox) -> None:
    await outbox.enqueue([chat("d1")], now=10.0)
    assert await outbox.claim(10, now=9.0) == []


async def test_a_claimed_job_is_not_claimed_again_while_its_lease_runs(outbox: Outbox) -> None:
    await outbox.enqueue([chat("d1")], now=10.0)
    assert len(await outbox.claim(10, now=10.0)) == 1
    assert await outbox.claim(10, now=10.0 + LEASE - 1) == []


async def test_a_job_whose_lease_ran_out_is_claimed_again(outbox: Outbox) -> None:
    await outbox.enqueue([chat("d1")], now=10.0)
    [first] = await outbox.claim(10, now=10.0)
    [again] = await outbox.claim(10, now=10.0 + LEASE)
    assert again.id == first.id
    assert again.attempt == 2


async def test_a_superseded_lease_cannot_settle_the_job(outbox: Outbox) -> None:
    await outbox.enqueue([chat("d1")], now=10.0)
    [stale] = await outbox.claim(10, now=10.0)
    [current] = await outbox.claim(10, now=10.0 + LEASE)
    assert not await outbox.complete(stale, now=50.0)
    assert not await outbox.retry(stale, at=50.0)
    assert not await outbox.drop(stale)
    assert await outbox.complete(current, now=50.0)


async def test_a_completed_job_is_gone(outbox: Outbox) -> None:
    await outbox.enqueue([chat("d1")], now=10.0)
    [job] = await outbox.claim(10, now=10.0)
    assert await outbox.complete(job, now=11.0)
    assert await outbox.depth() == 0
    assert await outbox.claim(10, now=10.0 + LEASE * 10) == []


async def test_a_dropped_job_is_gone(outbox: Outbox) -> None:
    await outbox.enqueue([chat("d1")], now=10.0)
    [job] = await outbox.claim(10, now=10.0)
    assert await outbox.drop(job)
    assert await outbox.depth() == 0
    assert await outbox.claim(10, now=10.0 + LEASE * 10) == []


async def test_a_retried_job_comes_back_when_due_and_not_before(outbox: Outbox) -> None:
    await outbox.enqueue([chat("d1")], now=10.0)
    [job] = await outbox.claim(10, now=10.0)
    assert await outbox.retry(job, at=15.0)
    assert await outbox.claim(10, now=14.0) == []
    [again] = await outbox.claim(10, now=15.0)
    assert again.attempt == 2


async def test_claim_takes_at_most_limit_jobs_earliest_due_first(outbox: Outbox) -> None:
    await outbox.enqueue([chat("late")], now=30.0)
    await outbox.enqueue([chat("early")], now=10.0)
    await outbox.enqueue([chat("middle")], now=20.0)
    jobs = await outbox.claim(2, now=40.0)
    assert [job.message.token for job in jobs] == ["early", "middle"]


async def test_a_newer_push_of_a_waiting_key_replaces_it(outbox: Outbox) -> None:
    await outbox.enqueue([chat("d1", "first", unread=1)], now=10.0)
    assert await outbox.enqueue([chat("d1", "second", unread=2)], now=11.0) == 1
    [job] = await outbox.claim(10, now=11.0)
    assert job.message.body == "second"
    assert job.enqueued_at == 10.0


async def test_a_push_for_another_thread_or_device_is_its_own_job(outbox: Outbox) -> None:
    await outbox.enqueue([chat("d1"), chat("d2"), chat("d1", thread="t2")], now=10.0)
    assert await outbox.depth() == 3


async def test_a_newer_push_of_a_key_in_flight_is_a_new_job(outbox: Outbox) -> None:
    await outbox.enqueue([chat("d1", "first")], now=10.0)
    [in_flight] = await outbox.claim(10, now=10.0)
    await outbox.enqueue([chat("d1", "second", unread=2)], now=11.0)
    [newer] = await outbox.claim(10, now=11.0)
    assert newer.message.body == "second"
    assert in_flight.message.body == "first"


async def test_a_retried_enqueue_makes_no_second_job(outbox: Outbox) -> None:
    await outbox.enqueue([chat("d1")], now=10.0)
    assert await outbox.enqueue([chat("d1")], now=11.0) == 0
    assert await outbox.depth() == 1


async def test_a_retried_enqueue_during_the_send_makes_no_second_job(outbox: Outbox) -> None:
    await outbox.enqueue([chat("d1")], now=10.0)
    await outbox.claim(10, now=10.0)
    assert await outbox.enqueue([chat("d1")], now=11.0) == 0
    assert await outbox.depth() == 1


async def test_a_retried_enqueue_after_the_send_within_the_window_is_ignored(
    outbox: Outbox,
) -> None:
    await outbox.enqueue([chat("d1")], now=10.0)
    [job] = await outbox.claim(10, now=10.0)
    await outbox.complete(job, now=12.0)
    assert await outbox.enqueue([chat("d1")], now=12.0 + WINDOW - 1) == 0
    assert await outbox.claim(10, now=12.0 + WINDOW - 1) == []


async def test_the_same_push_after_the_window_is_sent_again(outbox: Outbox) -> None:
    await outbox.enqueue([chat("d1")], now=10.0)
    [job] = await outbox.claim(10, now=10.0)
    await outbox.complete(job, now=12.0)
    await outbox.claim(10, now=12.0 + WINDOW + 1)  # prunes what the window no longer needs
    assert await outbox.enqueue([chat("d1")], now=12.0 + WINDOW + 1) == 1
    assert len(await outbox.claim(10, now=12.0 + WINDOW + 1)) == 1


async def test_pushes_without_a_collapse_key_are_never_merged(outbox: Outbox) -> None:
    plain = PushMessage(token="d1", title="t", body="b")
    await outbox.enqueue([plain, plain], now=10.0)
    assert await outbox.depth() == 2


async def test_depth_and_oldest_age_count_jobs_not_yet_settled(outbox: Outbox) -> None:
    assert await outbox.depth() == 0
    assert await outbox.oldest_age(now=100.0) == 0.0
    await outbox.enqueue([chat("d1")], now=10.0)
    await outbox.enqueue([for_like("p1", "bob", 3).to("d2")], now=40.0)
    assert await outbox.depth() == 2
    assert await outbox.oldest_age(now=100.0) == 90.0


async def test_jobs_survive_closing_and_reopening(
    outbox_factory: OutboxFactory, request: pytest.FixtureRequest
) -> None:
    first = outbox_factory()
    await first.open()
    await first.enqueue([chat("d1")], now=10.0)
    await first.claim(10, now=10.0)  # claimed, then the process "crashes"
    await first.close()
    second = outbox_factory()
    await second.open()
    [job] = await second.claim(10, now=10.0 + LEASE)
    assert job.message == chat("d1")


async def test_opening_twice_on_one_location_is_harmless(outbox_factory: OutboxFactory) -> None:
    one, two = outbox_factory(), outbox_factory()
    await one.open()
    await two.open()
    await one.enqueue([chat("d1")], now=10.0)
    assert await two.depth() == 1


async def test_withdraw_drops_every_job_and_the_owed_record_of_an_unsent_message(
        outbox: Outbox) -> None:
    unsent = for_chat_message("t1", "alice", "sent by mistake", 1, seq=7)
    kept_same_thread = for_chat_message("t1", "alice", "fine", 2, seq=8)
    kept_other_thread = for_chat_message("t2", "alice", "fine too", 1, seq=7)
    await outbox.enqueue([unsent.to("d1"), unsent.to("d2"), kept_other_thread.to("d3")], 10.0)
    [first, *_] = await outbox.claim(1, now=10.0)  # one of them in a worker's hands
    await outbox.enqueue([kept_same_thread.to("d4")], 10.0)
    assert await outbox.withdraw("t1", 7) == 2
    assert await outbox.depth() == 2
    left = await outbox.claim(10, now=10.0 + LEASE + 1)
    assert {job.message.token for job in left} == {"d3", "d4"}
    if first.message.data.get("thread") == "t1":
        assert not await outbox.complete(first, now=11.0)  # superseded: its row is gone
    assert await outbox.withdraw("t1", 7) == 0
