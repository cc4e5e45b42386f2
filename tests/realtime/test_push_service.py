"""The push fallback service on a real SQLite store, and through the worker to fake FCM."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from presence.memory import MemoryPresence
from push.fcm import FcmSender
from push.outbox import Outbox, OwedPush
from push.outbox_memory import MemoryOutbox
from push.outbox_sqlite import SqliteOutbox
from push.worker import PushWorker
from realtime.services.push import PushService
from realtime.store.base import NewMessage, StoredMessage
from realtime.store.sqlite import SqliteStore
from tests.fixtures.fake_fcm import FcmSetup


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(str(tmp_path / "realtime.sqlite3"))
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def presence() -> MemoryPresence:
    return MemoryPresence()


async def group_message(store: SqliteStore, body: str = "hello",
                        outbox: Outbox | None = None) -> StoredMessage:
    """A committed message that owes its push (recorded in ``outbox`` too when that is a
    memory outbox, which no commit writes to)."""
    thread = await store.create_group(["alice", "bob", "carol"])
    appended = await store.append(NewMessage(thread.id, "alice", body, ts=1, push=True))
    m = appended.message
    if isinstance(outbox, MemoryOutbox):
        outbox.owe(OwedPush(m.pos, m.thread, m.seq, m.ts))
    return m


async def test_only_offline_recipients_with_a_device_are_pushed(
    store: SqliteStore, presence: MemoryPresence
) -> None:
    outbox = MemoryOutbox()
    service = PushService(store, outbox, presence)
    await store.add_device("alice", "tok-alice", "android")
    await store.add_device("bob", "tok-bob", "android")
    await store.add_device("carol", "tok-carol", "ios")
    await presence.join("carol", "s1")
    message = await group_message(store, outbox=outbox)
    pushed = await service.message(message.thread, message, ["alice", "bob", "carol"])
    assert pushed == ["bob"]  # alice sent it, carol is online
    [job] = await outbox.claim(10, now=1e12)
    assert job.message.token == "tok-bob"
    assert job.message.data["unread"] == "1"


async def test_a_user_without_a_device_is_not_pushed(
    store: SqliteStore, presence: MemoryPresence
) -> None:
    service = PushService(store, MemoryOutbox(), presence)
    message = await group_message(store)
    assert await service.message(message.thread, message, ["bob"]) == []


async def test_a_notification_without_push_text_is_not_pushed(
    store: SqliteStore, presence: MemoryPresence
) -> None:
    await store.add_device("bob", "tok-bob", "android")
    service = PushService(store, MemoryOutbox(), presence)
    assert await service.notify(["bob"], "n1", None) == []
    assert await service.notify(["bob"], "n2", {"title": "T", "body": "B"}) == ["bob"]


async def test_an_offline_owner_gets_a_like_push(
    store: SqliteStore, presence: MemoryPresence
) -> None:
    await store.add_device("owner", "tok-owner", "web")
    outbox = MemoryOutbox()
    service = PushService(store, outbox, presence)
    assert await service.like("owner", "p1", "bob", 3)
    [job] = await outbox.claim(10, now=1e12)
    assert job.message.data == {"kind": "like", "post": "p1", "user": "bob", "count": "3"}


async def test_an_unregistered_token_is_removed_from_the_store(
    store: SqliteStore, presence: MemoryPresence
) -> None:
    await store.add_device("bob", "tok-bob", "android")
    service = PushService(store, MemoryOutbox(), presence)
    await service.remove_device("tok-bob")
    assert await store.devices_of(["bob"]) == []


async def test_a_chat_message_reaches_an_offline_device_through_fcm(
    store: SqliteStore, presence: MemoryPresence, fake_fcm: FcmSetup, tmp_path: Path
) -> None:
    await store.add_device("bob", "tok-bob", "android")
    outbox = SqliteOutbox(tmp_path / "realtime.sqlite3")  # the store's file, its own table
    await outbox.open()
    sender = FcmSender(fake_fcm.credentials_path, endpoint=fake_fcm.endpoint)
    service = PushService(store, outbox, presence)
    worker = PushWorker(outbox, sender, on_unregistered=service.remove_device)
    service.worker = worker
    await worker.start()
    try:
        message = await group_message(store, "are you there?")
        assert await service.message(message.thread, message, ["bob"]) == ["bob"]
        await fake_fcm.fake.wait_sends(1)
        [send] = fake_fcm.fake.sends
        assert send.token == "tok-bob"
        assert send.message["notification"] == {"title": "alice", "body": "are you there?"}
        assert send.message["data"]["thread"] == message.thread
    finally:
        await worker.close()
        await sender.close()
        await outbox.close()


async def test_a_message_owed_a_push_is_pushed_once_however_often_decided(
    store: SqliteStore, presence: MemoryPresence
) -> None:
    await store.add_device("bob", "tok-bob", "android")
    outbox = MemoryOutbox()
    service = PushService(store, outbox, presence)
    message = await group_message(store, outbox=outbox)
    assert await service.message(message.thread, message, ["bob"]) == ["bob"]
    assert await service.message(message.thread, message, ["bob"]) == []
    assert len(await outbox.claim(10, now=1e12)) == 1


async def test_recovery_decides_the_pushes_nobody_decided(
    store: SqliteStore, presence: MemoryPresence
) -> None:
    await store.add_device("bob", "tok-bob", "android")
    outbox = MemoryOutbox()
    service = PushService(store, outbox, presence)
    message = await group_message(store, "left behind", outbox=outbox)
    assert await service.recover(until_ms=10) == 1
    assert await service.recover(until_ms=10) == 0
    [job] = await outbox.claim(10, now=1e12)
    assert (job.message.token, job.message.data["thread"]) == ("tok-bob", message.thread)
