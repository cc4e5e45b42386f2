"""The Store contract: what every backend guarantees, checked on each one.

See ``realtime/store/base.py`` for the contract in words.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from realtime.store.base import (
    Appended,
    NewMessage,
    NotAMember,
    Store,
    StoreError,
    StoreUnavailable,
    Thread,
    ThreadNotFound,
    dm_thread_id,
)

if TYPE_CHECKING:
    from tests.contracts.conftest import StoreLocation


def new(
    thread: Thread | str,
    sender: str | None,
    body: str = "hello",
    *,
    cid: str | None = None,
    meta: dict[str, Any] | None = None,
    ts: int = 1_700_000_000_000,
) -> NewMessage:
    thread_id = thread.id if isinstance(thread, Thread) else thread
    return NewMessage(thread_id, sender, body, meta, cid, ts)


async def send_many(store: Store, thread: Thread, sender: str | None, count: int) -> list[Appended]:
    return [await store.append(new(thread, sender, f"m{i}")) for i in range(count)]


# -- appends -----------------------------------------------------------------------------


async def test_a_dm_opened_from_both_sides_at_once_is_one_thread(store: Store) -> None:
    made = await asyncio.gather(*(store.ensure_dm(*pair) for pair in
                                  [("alice", "bob"), ("bob", "alice")] * 4))
    assert {thread.id for thread in made} == {"dm:alice:bob"}
    stored = await store.get_thread("dm:alice:bob")
    assert stored is not None and stored.members == ("alice", "bob")
    appended = await store.append(new(made[0], "bob", "hi"))
    assert appended.message.seq == 1


async def test_a_notes_thread_has_one_member(store: Store) -> None:
    notes = await store.ensure_dm("alice", "alice")
    stored = await store.get_thread(notes.id)
    assert stored is not None and stored.members == ("alice",)


async def test_append_returns_gapless_seq_per_thread(store: Store) -> None:
    ab = await store.ensure_dm("alice", "bob")
    ac = await store.ensure_dm("alice", "carol")
    seqs: dict[str, list[int]] = {ab.id: [], ac.id: []}
    for i in range(6):
        thread = ab if i % 3 else ac
        appended = await store.append(new(thread, "alice", f"m{i}"))
        seqs[thread.id].append(appended.message.seq)
    assert seqs == {ab.id: [1, 2, 3, 4], ac.id: [1, 2]}


async def test_append_returns_what_was_stored(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    appended = await store.append(new(thread, "alice", "hi", cid="c1", ts=42))
    assert not appended.duplicate
    page = await store.history(thread.id, None, 10)
    assert page.messages == [appended.message]
    stored = appended.message
    assert (stored.thread, stored.sender, stored.body, stored.cid, stored.ts) == (
        thread.id,
        "alice",
        "hi",
        "c1",
        42,
    )


async def test_resend_with_same_cid_returns_original(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await store.append(new(thread, "alice", "hi", cid="c1"))
    again = await store.append(new(thread, "alice", "hi, edited", cid="c1", ts=2))
    assert again.duplicate
    assert again.message == first.message
    assert [m.body for m in (await store.history(thread.id, None, 10)).messages] == ["hi"]


async def test_concurrent_resends_with_same_cid_store_one_message(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    results = await asyncio.gather(
        *(store.append(new(thread, "alice", cid="c1")) for _ in range(5))
    )
    assert sum(not r.duplicate for r in results) == 1
    assert len({r.message for r in results}) == 1
    assert len((await store.history(thread.id, None, 10)).messages) == 1


async def test_same_cid_from_two_senders_is_two_messages(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    a = await store.append(new(thread, "alice", cid="c1"))
    b = await store.append(new(thread, "bob", cid="c1"))
    assert not b.duplicate
    assert (a.message.seq, b.message.seq) == (1, 2)


async def test_system_message_resend_with_same_cid_returns_original(store: Store) -> None:
    group = await store.create_group(["alice", "bob"])
    first = await store.append(new(group, None, "welcome", cid="sys-1"))
    again = await store.append(new(group, None, "welcome", cid="sys-1"))
    assert again.duplicate
    assert again.message == first.message


async def test_messages_without_cid_are_never_duplicates(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await store.append(new(thread, "alice", "same"))
    second = await store.append(new(thread, "alice", "same"))
    assert not second.duplicate
    assert second.message.seq == first.message.seq + 1


async def test_concurrent_appends_to_one_thread_have_no_gap_or_duplicate(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    senders = ["alice", "bob"]
    results = await asyncio.gather(
        *(store.append(new(thread, senders[i % 2], f"m{i}", cid=f"c{i}")) for i in range(400))
    )
    assert sorted(r.message.seq for r in results) == list(range(1, 401))
    page = await store.history(thread.id, None, 1000)
    assert [m.seq for m in page.messages] == list(range(1, 401))
    assert {m.body for m in page.messages} == {f"m{i}" for i in range(400)}


async def test_seq_order_equals_pos_order(store: Store) -> None:
    threads = [await store.ensure_dm("alice", other) for other in ("bob", "carol", "dave")]
    results = await asyncio.gather(
        *(store.append(new(threads[i % 3], "alice", f"m{i}")) for i in range(300))
    )
    for thread in threads:
        mine = sorted(
            (r.message for r in results if r.message.thread == thread.id), key=lambda m: m.seq
        )
        positions = [m.pos for m in mine]
        assert positions == sorted(positions)
        assert len(set(positions)) == len(positions)


async def test_message_ids_are_unique_across_threads(store: Store) -> None:
    ab = await store.ensure_dm("alice", "bob")
    ac = await store.ensure_dm("alice", "carol")
    results = await asyncio.gather(
        *(store.append(new(ab if i % 2 else ac, "alice", f"m{i}")) for i in range(50))
    )
    assert len({r.message.msg for r in results}) == 50
    assert len({r.message.pos for r in results}) == 50


async def test_non_member_cannot_append(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    with pytest.raises(NotAMember):
        await store.append(new(thread, "mallory"))
    assert (await store.history(thread.id, None, 10)).messages == []


async def test_missing_thread(store: Store) -> None:
    with pytest.raises(ThreadNotFound):
        await store.append(new("g:does-not-exist", None))
    assert await store.get_thread("g:does-not-exist") is None


async def test_a_failed_append_fails_alone(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    results = await asyncio.gather(
        store.append(new(thread, "alice", "one")),
        store.append(new(thread, "mallory", "intruder")),
        store.append(new("dm:nobody:none", "alice", "nowhere")),
        store.append(new(thread, "bob", "two")),
        return_exceptions=True,
    )
    assert isinstance(results[1], NotAMember)
    assert isinstance(results[2], ThreadNotFound)
    good = [r for r in results if isinstance(r, Appended)]
    assert sorted(r.message.seq for r in good) == [1, 2]


async def test_system_message_has_no_sender(store: Store) -> None:
    group = await store.create_group(["alice", "bob"], title="team")
    appended = await store.append(new(group, None, "alice joined"))
    assert appended.message.sender is None
    (stored,) = (await store.history(group.id, None, 10)).messages
    assert stored.sender is None
    assert stored.body == "alice joined"


async def test_meta_round_trips(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    meta = {"reply_to": 3, "tags": ["a", "ü"], "nested": {"ok": True, "none": None, "x": 1.5}}
    appended = await store.append(new(thread, "alice", meta=meta))
    assert appended.message.meta == meta
    (stored,) = (await store.history(thread.id, None, 10)).messages
    assert stored.meta == meta
    (replayed,) = await store.messages_after("bob", 0, 10)
    assert replayed.meta == meta
    (summary,) = await store.threads_of("bob")
    assert summary.last is not None and summary.last.meta == meta


async def test_message_without_meta_has_none(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    await store.append(new(thread, "alice"))
    (stored,) = (await store.history(thread.id, None, 10)).messages
    assert stored.meta is None


async def test_reads_see_every_returned_append(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    for i in range(20):
        appended = await store.append(new(thread, "alice", f"m{i}"))
        assert await store.head() == appended.message.pos
        page = await store.history(thread.id, None, 1)
        assert page.messages == [appended.message]


# -- history -----------------------------------------------------------------------------


async def test_history_newest_page_first_ascending(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    await send_many(store, thread, "alice", 10)
    page = await store.history(thread.id, None, 3)
    assert [m.seq for m in page.messages] == [8, 9, 10]


async def test_history_before_is_exclusive(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    await send_many(store, thread, "alice", 10)
    page = await store.history(thread.id, 5, 2)
    assert [m.seq for m in page.messages] == [3, 4]


async def test_history_more_flag(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    await send_many(store, thread, "alice", 5)
    assert (await store.history(thread.id, None, 4)).more
    assert not (await store.history(thread.id, None, 5)).more
    last = await store.history(thread.id, 2, 10)
    assert [m.seq for m in last.messages] == [1]
    assert not last.more


async def test_history_pages_cover_the_thread_once(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    await send_many(store, thread, "alice", 11)
    seen: list[int] = []
    before = None
    while True:
        page = await store.history(thread.id, before, 3)
        seen = [m.seq for m in page.messages] + seen
        if not page.more:
            break
        before = page.messages[0].seq
    assert seen == list(range(1, 12))


async def test_history_of_a_thread_without_messages_is_empty(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    page = await store.history(thread.id, None, 50)
    assert page.messages == []
    assert not page.more


# -- replay ------------------------------------------------------------------------------


async def test_replays_asked_at_once_each_get_their_own_page(store: Store) -> None:
    ab = await store.ensure_dm("alice", "bob")
    cd = await store.ensure_dm("carol", "dave")
    for i in range(4):
        await store.append(new(ab, "alice", f"ab{i}"))
        await store.append(new(cd, "carol", f"cd{i}"))
    asks = [("bob", 0, 100), ("dave", 0, 2), ("alice", 0, 100), ("nobody", 0, 100),
            ("carol", 4, 100), ("bob", 0, 0)]
    pages = await asyncio.gather(*(store.messages_after(*ask) for ask in asks))
    bodies = [[m.body for m in page] for page in pages]
    assert bodies == [["ab0", "ab1", "ab2", "ab3"], ["cd0", "cd1"],
                      ["ab0", "ab1", "ab2", "ab3"], [], ["cd2", "cd3"], []]
    assert all(page == sorted(page, key=lambda m: m.pos) for page in pages)


async def test_messages_after_only_users_threads(store: Store) -> None:
    ab = await store.ensure_dm("alice", "bob")
    bc = await store.ensure_dm("bob", "carol")
    await store.append(new(ab, "alice", "for bob"))
    await store.append(new(bc, "carol", "not for alice"))
    assert [m.body for m in await store.messages_after("alice", 0, 100)] == ["for bob"]
    assert len(await store.messages_after("bob", 0, 100)) == 2
    assert await store.messages_after("nobody", 0, 100) == []


async def test_messages_after_ascending_pos(store: Store) -> None:
    threads = [await store.ensure_dm("alice", other) for other in ("bob", "carol", "dave")]
    appended = await asyncio.gather(
        *(store.append(new(threads[i % 3], "alice", f"m{i}")) for i in range(60))
    )
    replay = await store.messages_after("alice", 0, 1000)
    positions = [m.pos for m in replay]
    assert positions == sorted(positions)
    assert sorted(positions) == sorted(a.message.pos for a in appended)


async def test_messages_after_is_exclusive_and_limited(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    appended = await send_many(store, thread, "alice", 6)
    cursor = appended[1].message.pos
    replay = await store.messages_after("bob", cursor, 3)
    assert [m.seq for m in replay] == [3, 4, 5]


async def test_messages_after_resumes_from_any_cursor_exactly_once(store: Store) -> None:
    ab = await store.ensure_dm("alice", "bob")
    group = await store.create_group(["alice", "bob", "carol"])
    for i in range(10):
        await store.append(new(ab if i % 2 else group, "alice" if i % 3 else None, f"m{i}"))
    seen = []
    cursor = 0
    while batch := await store.messages_after("bob", cursor, 3):
        seen.extend(m.body for m in batch if m.kind == "message")
        cursor = batch[-1].pos
    assert seen == [f"m{i}" for i in range(10)]
    assert cursor == await store.head()


async def test_head_is_zero_when_empty(store: Store) -> None:
    assert await store.head() == 0


async def test_head(store: Store) -> None:
    ab = await store.ensure_dm("alice", "bob")
    ac = await store.ensure_dm("alice", "carol")
    await store.append(new(ab, "alice"))
    last = await store.append(new(ac, "alice"))
    assert await store.head() == last.message.pos
    assert await store.messages_after("alice", await store.head(), 10) == []


async def test_a_head_asked_for_after_a_commit_covers_it(store: Store) -> None:
    # Concurrent readers of the head may share a read: never one older than their call.
    ab = await store.ensure_dm("alice", "bob")

    async def commit_then_ask(i: int) -> tuple[int, int]:
        appended = await store.append(new(ab, "alice", f"m{i}"))
        return appended.message.pos, await store.head()

    for committed, head in await asyncio.gather(*(commit_then_ask(i) for i in range(50))):
        assert head >= committed


# -- read pointers and thread lists ------------------------------------------------------


async def test_mark_read_never_backwards(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    await send_many(store, thread, "alice", 5)
    assert await store.mark_read(thread.id, "bob", 4) == 4
    assert await store.mark_read(thread.id, "bob", 2) == 4
    (summary,) = await store.threads_of("bob")
    assert summary.read_seq == 4


async def test_mark_read_clamped_to_last_seq(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    await send_many(store, thread, "alice", 3)
    assert await store.mark_read(thread.id, "bob", 1000) == 3
    await store.append(new(thread, "alice"))
    (summary,) = await store.threads_of("bob")
    assert summary.unread == 1


async def test_mark_read_of_missing_thread_raises(store: Store) -> None:
    with pytest.raises(ThreadNotFound):
        await store.mark_read("g:missing", "alice", 1)


async def test_mark_read_by_non_member_raises(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    with pytest.raises(NotAMember):
        await store.mark_read(thread.id, "mallory", 1)


async def test_unread_counts_only_others(store: Store) -> None:
    group = await store.create_group(["alice", "bob"])
    await send_many(store, group, "alice", 2)
    await send_many(store, group, "bob", 3)
    await store.append(new(group, None, "system"))
    (for_alice,) = await store.threads_of("alice")
    (for_bob,) = await store.threads_of("bob")
    assert for_alice.unread == 4  # bob's three and the system message
    assert for_bob.unread == 3  # alice's two and the system message
    # seq 1 is the group's creation, an entry that is never unread.
    await store.mark_read(group.id, "alice", 5)
    (for_alice,) = await store.threads_of("alice")
    assert for_alice.unread == 2  # bob's seq 6 and the system message


async def test_threads_of_orders_by_activity(store: Store) -> None:
    ab = await store.ensure_dm("alice", "bob")
    ac = await store.ensure_dm("alice", "carol")
    ad = await store.ensure_dm("alice", "dave")
    for thread in (ab, ac, ad, ac, ab):
        await store.append(new(thread, "alice"))
    summaries = await store.threads_of("alice")
    assert [s.thread.id for s in summaries] == [ab.id, ac.id, ad.id]


async def test_threads_of_lists_members_and_last_message(store: Store) -> None:
    group = await store.create_group(["alice", "bob", "carol"], title="trip")
    await store.append(new(group, "bob", "first"))
    last = await store.append(new(group, "carol", "second"))
    await store.ensure_dm("bob", "dave")
    (summary,) = await store.threads_of("alice")
    assert summary.thread.id == group.id
    assert summary.thread.kind == "group"
    assert summary.thread.title == "trip"
    assert sorted(summary.thread.members) == ["alice", "bob", "carol"]
    assert summary.last == last.message


async def test_threads_of_a_thread_without_messages(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    (summary,) = await store.threads_of("alice")
    assert summary.thread.id == thread.id
    assert summary.last is None
    assert summary.unread == 0


# -- threads and members -----------------------------------------------------------------


async def test_ensure_dm_concurrent_calls_meet_in_one_thread(store: Store) -> None:
    threads = await asyncio.gather(
        *(store.ensure_dm(*(("alice", "bob") if i % 2 else ("bob", "alice"))) for i in range(20))
    )
    assert {t.id for t in threads} == {dm_thread_id("alice", "bob")}
    stored = await store.get_thread(dm_thread_id("alice", "bob"))
    assert stored is not None
    assert stored.kind == "dm"
    assert sorted(stored.members) == ["alice", "bob"]
    assert len(await store.threads_of("alice")) == 1


async def test_ensure_dm_keeps_the_existing_thread(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    await store.append(new(thread, "alice"))
    again = await store.ensure_dm("bob", "alice")
    assert again.id == thread.id
    assert len((await store.history(again.id, None, 10)).messages) == 1


async def test_dm_with_self_is_notes_thread(store: Store) -> None:
    notes = await store.ensure_dm("alice", "alice")
    assert notes.members == ("alice",)
    appended = await store.append(new(notes, "alice", "remember the milk"))
    assert appended.message.seq == 1
    (summary,) = await store.threads_of("alice")
    assert summary.thread.members == ("alice",)
    assert summary.unread == 0


async def test_change_members(store: Store) -> None:
    group = await store.create_group(["alice", "bob"])
    changed = await store.change_members(group.id, add=["carol"], remove=["alice"])
    assert sorted(changed.members) == ["bob", "carol"]
    stored = await store.get_thread(group.id)
    assert stored is not None and sorted(stored.members) == ["bob", "carol"]
    await store.append(new(group, "carol", "hi"))
    with pytest.raises(NotAMember):
        await store.append(new(group, "alice", "still here?"))
    assert await store.threads_of("alice") == []


async def test_change_members_adds_before_removing(store: Store) -> None:
    group = await store.create_group(["alice", "bob"])
    changed = await store.change_members(group.id, add=["carol"], remove=["carol"])
    assert sorted(changed.members) == ["alice", "bob"]


async def test_change_members_of_missing_thread_raises(store: Store) -> None:
    with pytest.raises(ThreadNotFound):
        await store.change_members("g:missing", add=["alice"])


async def test_dm_members_cannot_change(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    with pytest.raises(StoreError):
        await store.change_members(thread.id, add=["carol"])
    stored = await store.get_thread(thread.id)
    assert stored is not None and sorted(stored.members) == ["alice", "bob"]


async def test_group_members_deduplicated(store: Store) -> None:
    group = await store.create_group(["alice", "bob", "alice", "bob", "carol"])
    assert sorted(group.members) == ["alice", "bob", "carol"]
    stored = await store.get_thread(group.id)
    assert stored is not None and sorted(stored.members) == ["alice", "bob", "carol"]


async def test_create_group_gives_a_fresh_id_each_time(store: Store) -> None:
    first = await store.create_group(["alice"], title="one")
    second = await store.create_group(["alice"], title="one")
    assert first.id != second.id
    assert first.kind == second.kind == "group"
    stored = await store.get_thread(first.id)
    assert stored is not None and stored.title == "one"


# -- lifecycle ---------------------------------------------------------------------------


async def test_ping_answers_while_open(store: Store) -> None:
    await store.ping()


async def test_appends_survive_reopen(store_location: StoreLocation) -> None:
    first = store_location.build()
    await first.open()
    thread = await first.ensure_dm("alice", "bob")
    before = await send_many(first, thread, "alice", 3)
    await first.mark_read(thread.id, "bob", 2)
    await first.close()

    second = store_location.build()
    await second.open()
    try:
        page = await second.history(thread.id, None, 10)
        assert page.messages == [a.message for a in before]
        assert await second.head() == before[-1].message.pos
        (summary,) = await second.threads_of("bob")
        assert summary.read_seq == 2
        later = await second.append(new(thread, "bob"))
        assert later.message.seq == 4
        assert later.message.pos > before[-1].message.pos
        resent = await second.append(NewMessage(thread.id, "alice", "m0"))
        assert not resent.duplicate  # no cid: a new message, whatever the body
    finally:
        await second.close()


async def test_close_commits_pending_appends(store_location: StoreLocation) -> None:
    first = store_location.build()
    await first.open()
    thread = await first.ensure_dm("alice", "bob")
    pending = [asyncio.create_task(first.append(new(thread, "alice", f"m{i}"))) for i in range(50)]
    await asyncio.sleep(0)  # one turn of the loop: every append has been handed to the store
    await first.close()
    results = await asyncio.gather(*pending)
    assert sorted(r.message.seq for r in results) == list(range(1, 51))

    second = store_location.build()
    await second.open()
    try:
        assert len((await second.history(thread.id, None, 100)).messages) == 50
    finally:
        await second.close()


async def test_close_is_idempotent(store_location: StoreLocation) -> None:
    opened = store_location.build()
    await opened.open()
    await asyncio.gather(opened.close(), opened.close())
    await opened.close()


async def test_append_after_close_is_unavailable(store_location: StoreLocation) -> None:
    opened = store_location.build()
    await opened.open()
    thread = await opened.ensure_dm("alice", "bob")
    await opened.close()
    with pytest.raises(StoreUnavailable):
        await opened.append(new(thread, "alice"))
