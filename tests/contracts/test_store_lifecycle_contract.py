"""The Store contract for the life of a message: edits, unsends and reactions are
entries of the thread's log, and reads fold them into the messages they change.

Runs on every backend (see ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest

from realtime.store.base import (
    MessageNotFound,
    NewChange,
    NewMessage,
    NotAMember,
    NotTheSender,
    Store,
    StoredMessage,
    Thread,
    ThreadNotFound,
    TooManyReactions,
)
from tests.contracts.conftest import StoreLocation

TS = 1_700_000_000_000


async def message(store: Store, thread: Thread, sender: str | None, body: str = "hi",
                  **fields: Any) -> StoredMessage:
    appended = await store.append(NewMessage(thread.id, sender, body, ts=TS, **fields))
    return appended.message


def edit(thread: Thread, user: str | None, target: int, body: str, **fields: Any) -> NewChange:
    return NewChange(thread.id, user, "edit", target, TS + 5, body=body, **fields)


def unsend(thread: Thread, user: str | None, target: int) -> NewChange:
    return NewChange(thread.id, user, "unsend", target, TS + 6)


def react(thread: Thread, user: str, target: int, emoji: str, on: bool = True) -> NewChange:
    return NewChange(thread.id, user, "react", target, TS + 7, emoji=emoji, on=on)


async def group(store: Store, *members: str) -> Thread:
    return await store.create_group(list(members))


# -- entries take the thread's next seq and the store's next pos ------------------------


async def test_every_change_is_the_next_entry_of_the_thread(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await message(store, thread, "alice")
    changes = [
        await store.change(edit(thread, "alice", first.seq, "hi!")),
        await store.change(react(thread, "bob", first.seq, "👍")),
        await store.change(unsend(thread, "alice", first.seq)),
    ]
    after = await message(store, thread, "bob", "next")
    entries = [c.entry for c in changes]
    assert all(e is not None for e in entries)
    assert [e.seq for e in entries if e] + [after.seq] == [2, 3, 4, 5]
    assert [e.kind for e in entries if e] == ["edit", "react", "unsend"]
    positions = [e.pos for e in entries if e] + [after.pos]
    assert positions == sorted(positions) and first.pos < positions[0]
    assert await store.head() == after.pos


async def test_replay_carries_changes_in_position_order(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await message(store, thread, "alice", "draft")
    start = await store.head()
    await store.change(edit(thread, "alice", first.seq, "final", meta={"v": 2},
                            replace_meta=True))
    await store.change(react(thread, "bob", first.seq, "🎉"))
    await store.change(react(thread, "bob", first.seq, "🎉", on=False))
    replay = await store.messages_after("bob", start, 10)
    assert [(m.kind, m.seq, m.target) for m in replay] == [
        ("edit", 2, 1), ("react", 3, 1), ("react", 4, 1)]
    assert (replay[0].body, replay[0].meta, replay[0].sender) == ("final", {"v": 2}, "alice")
    assert [(m.emoji, m.on) for m in replay[1:]] == [("🎉", True), ("🎉", False)]


async def test_entries_lists_messages_and_changes_between_two_seqs(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await message(store, thread, "alice")
    await store.change(react(thread, "bob", first.seq, "👍"))
    await message(store, thread, "bob")
    entries = await store.entries(thread.id, 0, 4)
    assert [(m.seq, m.kind) for m in entries] == [(1, "message"), (2, "react"), (3, "message")]
    assert [m.seq for m in await store.entries(thread.id, 1, 3)] == [2]


# -- authority -----------------------------------------------------------------------------


async def test_only_the_sender_edits_or_unsends(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await message(store, thread, "alice")
    with pytest.raises(NotTheSender):
        await store.change(edit(thread, "bob", first.seq, "mine now"))
    with pytest.raises(NotTheSender):
        await store.change(unsend(thread, "bob", first.seq))
    page = await store.history(thread.id, None, 10)
    assert page.messages[0].body == "hi" and not page.messages[0].deleted


async def test_a_system_message_is_no_user_s_to_edit(store: Store) -> None:
    thread = await group(store, "alice", "bob")
    system = await message(store, thread, None, "welcome")
    with pytest.raises(NotTheSender):
        await store.change(edit(thread, "alice", system.seq, "hijacked"))


async def test_the_http_api_edits_and_unsends_any_message(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await message(store, thread, "alice")
    edited = await store.change(edit(thread, None, first.seq, "[moderated]"))
    assert edited.entry is not None and edited.entry.sender is None
    removed = await store.change(unsend(thread, None, first.seq))
    assert removed.entry is not None and removed.entry.kind == "unsend"


@pytest.mark.parametrize("target", [0, 2, 99])
async def test_a_change_to_no_message_is_not_found(store: Store, target: int) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await message(store, thread, "alice")
    await store.change(react(thread, "bob", first.seq, "👍"))  # seq 2: an entry, no message
    for change in (edit(thread, "alice", target, "x"), unsend(thread, "alice", target),
                   react(thread, "alice", target, "👍")):
        with pytest.raises(MessageNotFound):
            await store.change(change)


async def test_an_unsent_message_cannot_be_changed_again(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await message(store, thread, "alice")
    await store.change(unsend(thread, "alice", first.seq))
    for change in (edit(thread, "alice", first.seq, "x"), unsend(thread, "alice", first.seq),
                   react(thread, "bob", first.seq, "👍")):
        with pytest.raises(MessageNotFound):
            await store.change(change)
    assert [m.seq for m in await store.entries(thread.id, 0, 100)] == [1, 2]


async def test_a_change_in_a_missing_thread_or_by_a_stranger_is_refused(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await message(store, thread, "alice")
    with pytest.raises(ThreadNotFound):
        await store.change(NewChange("dm:no:one", "alice", "react", 1, TS, emoji="👍"))
    with pytest.raises(NotAMember):
        await store.change(react(thread, "mallory", first.seq, "👍"))


# -- reactions -----------------------------------------------------------------------------


async def test_a_reaction_already_in_that_state_makes_no_entry(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await message(store, thread, "alice")
    made = await store.change(react(thread, "bob", first.seq, "👍"))
    again = await store.change(react(thread, "bob", first.seq, "👍"))
    never = await store.change(react(thread, "bob", first.seq, "😮", on=False))
    assert made.entry is not None
    assert again.entry is None and again.seq is None
    assert never.entry is None and never.seq is None
    assert len(await store.entries(thread.id, 0, 100)) == 2


async def test_reactions_fold_into_history_one_per_user_per_emoji(store: Store) -> None:
    thread = await group(store, "alice", "bob", "carol")
    first = await message(store, thread, "alice")
    second = await message(store, thread, "bob")
    for change in (react(thread, "carol", first.seq, "👍"), react(thread, "bob", first.seq, "👍"),
                   react(thread, "bob", first.seq, "❤️"), react(thread, "carol", first.seq, "👍"),
                   react(thread, "alice", second.seq, "😂"),
                   react(thread, "alice", second.seq, "😂", on=False)):
        await store.change(change)
    page = await store.history(thread.id, None, 10)
    assert [m.seq for m in page.messages] == [first.seq, second.seq]
    assert page.messages[0].reactions == {"👍": ["carol", "bob"], "❤️": ["bob"]}
    assert page.messages[1].reactions is None


# -- edits ---------------------------------------------------------------------------------


async def test_history_shows_the_message_as_last_edited(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await message(store, thread, "alice", "frist", meta={"v": 1})
    await store.change(edit(thread, "alice", first.seq, "first"))
    last = await store.change(NewChange(thread.id, "alice", "edit", first.seq, TS + 9,
                                        body="first!", meta={"v": 2}, replace_meta=True))
    assert last.entry is not None and last.entry.seq == 3
    (shown,) = (await store.history(thread.id, None, 10)).messages
    assert (shown.body, shown.meta, shown.edited) == ("first!", {"v": 2}, TS + 9)
    assert shown.kind == "message" and shown.seq == first.seq


async def test_an_edit_without_meta_keeps_the_meta(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await message(store, thread, "alice", "a", meta={"k": 1})
    changed = await store.change(edit(thread, "alice", first.seq, "b"))
    assert changed.entry is not None and changed.entry.meta == {"k": 1}
    (shown,) = (await store.history(thread.id, None, 10)).messages
    assert shown.meta == {"k": 1}


async def test_a_retried_edit_gets_the_first_answer_and_makes_no_entry(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await message(store, thread, "alice", "a")
    made = await store.change(edit(thread, "alice", first.seq, "b"))
    retried = await store.change(edit(thread, "alice", first.seq, "b"))
    assert made.entry is not None
    assert retried.entry is None and retried.seq == made.entry.seq
    assert len(await store.entries(thread.id, 0, 100)) == 2


async def test_an_edit_to_the_original_text_makes_no_entry(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await message(store, thread, "alice", "same")
    unchanged = await store.change(edit(thread, "alice", first.seq, "same"))
    assert unchanged.entry is None and unchanged.seq is None


async def test_history_pages_count_messages_not_entries(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    sent = [await message(store, thread, "alice", f"m{i}") for i in range(4)]
    for m in sent:
        await store.change(react(thread, "bob", m.seq, "👍"))
        await store.change(edit(thread, "alice", m.seq, m.body + "!"))
    page = await store.history(thread.id, None, 2)
    assert [m.body for m in page.messages] == ["m2!", "m3!"] and page.more
    older = await store.history(thread.id, page.messages[0].seq, 2)
    assert [m.body for m in older.messages] == ["m0!", "m1!"] and not older.more


# -- unsend erases -------------------------------------------------------------------------


async def test_an_unsent_message_is_shown_deleted_and_empty(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await message(store, thread, "alice", "secret", meta={"k": "v"}, reply_to=None,
                          attachments=[{"url": "https://a.b/c", "type": "image/png",
                                        "size": 3}])
    await store.change(edit(thread, "alice", first.seq, "more secret"))
    await store.change(react(thread, "bob", first.seq, "👍"))
    await store.change(unsend(thread, "alice", first.seq))
    (shown,) = (await store.history(thread.id, None, 10)).messages
    assert shown.deleted and shown.body == ""
    assert shown.meta is None and shown.attachments is None and shown.reactions is None
    entries = await store.entries(thread.id, 0, 100)
    assert all(e.body == "" and e.meta is None for e in entries)
    replay = await store.messages_after("bob", 0, 100)
    assert all("secret" not in e.body for e in replay)


async def test_unsend_erases_the_content_from_the_sqlite_file(store_location: StoreLocation
                                                               ) -> None:
    if store_location.name != "sqlite":
        pytest.skip("reads the SQLite file itself")
    store = store_location.build()
    await store.open()
    try:
        thread = await store.ensure_dm("alice", "bob")
        first = await message(store, thread, "alice", "xyzzy-secret-" * 20)
        await store.change(edit(thread, "alice", first.seq, "plugh-secret-" * 20))
        await store.change(unsend(thread, "alice", first.seq))
    finally:
        await store.close()
    content = _checkpointed_file(store.path)  # type: ignore[attr-defined]
    assert b"xyzzy-secret" not in content and b"plugh-secret" not in content


# -- replies and attachments ---------------------------------------------------------------


async def test_reply_to_and_attachments_are_stored_and_read_back(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await message(store, thread, "alice")
    files = [{"url": "https://cdn.example.com/a.jpg", "type": "image/jpeg", "size": 10,
              "width": 4, "height": 3}]
    reply = await message(store, thread, "bob", "this", reply_to=first.seq, attachments=files,
                          cid="c1")
    assert (reply.reply_to, reply.attachments) == (first.seq, files)
    page = await store.history(thread.id, None, 10)
    assert (page.messages[1].reply_to, page.messages[1].attachments) == (first.seq, files)
    replay = await store.messages_after("alice", first.pos, 10)
    assert (replay[0].reply_to, replay[0].attachments) == (first.seq, files)
    again = await store.append(NewMessage(thread.id, "bob", "this", ts=TS, cid="c1"))
    assert again.duplicate and again.message.attachments == files
    assert again.message.reply_to == first.seq


async def test_is_message_tells_messages_from_changes(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await message(store, thread, "alice")
    await store.change(react(thread, "bob", first.seq, "👍"))
    await store.change(unsend(thread, "alice", first.seq))
    assert await store.is_message(thread.id, first.seq)  # unsent, still a message
    assert not await store.is_message(thread.id, 2)
    assert not await store.is_message(thread.id, 9)
    assert not await store.is_message("dm:no:one", 1)


# -- thread lists --------------------------------------------------------------------------


async def test_threads_last_is_the_last_message_as_it_is_now(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    await message(store, thread, "alice", "one")
    second = await message(store, thread, "alice", "two")
    await store.change(edit(thread, "alice", second.seq, "two!"))
    await store.change(react(thread, "bob", second.seq, "👍"))
    (summary,) = await store.threads_of("bob")
    assert summary.last is not None
    assert (summary.last.seq, summary.last.body) == (second.seq, "two!")
    assert summary.last.reactions == {"👍": ["bob"]} and summary.last.edited == TS + 5
    await store.change(unsend(thread, "alice", second.seq))
    (summary,) = await store.threads_of("bob")
    assert summary.last is not None and summary.last.deleted and summary.last.body == ""


async def test_unread_counts_messages_never_changes(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await message(store, thread, "alice")
    await store.change(edit(thread, "alice", first.seq, "x"))
    await store.change(react(thread, "alice", first.seq, "👍"))
    (summary,) = await store.threads_of("bob")
    assert summary.unread == 1


async def test_concurrent_changes_and_messages_keep_seq_gapless(store: Store) -> None:
    thread = await group(store, "alice", "bob", "carol")
    first = await message(store, thread, "alice")
    results = await asyncio.gather(
        *(store.append(NewMessage(thread.id, "bob", f"m{i}", ts=TS)) for i in range(10)),
        *(store.change(react(thread, user, first.seq, emoji))
          for user in ("bob", "carol") for emoji in ("1", "2", "3")),
    )
    assert len(results) == 16
    seqs = [m.seq for m in await store.entries(thread.id, 0, 1000)]
    assert seqs == list(range(1, 19))  # the creation, the first message, then 16


def _checkpointed_file(path: str) -> bytes:
    """The database file's bytes once its write-ahead log is folded into it."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    with open(path, "rb") as data:
        return data.read()


async def test_changes_handed_over_together_commit_in_the_order_made(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await message(store, thread, "alice")
    made = [store.change_soon(react(thread, "bob", first.seq, "👍", on=on))
            for on in (True, False, True, False)]
    made.append(store.change_soon(edit(thread, "alice", first.seq, "v2")))
    made.append(store.change_soon(edit(thread, "alice", first.seq, "v2")))
    results = await asyncio.gather(*made)
    entries = [r.entry for r in results]
    assert [e.seq if e else None for e in entries] == [2, 3, 4, 5, 6, None]
    assert results[-1].seq == 6  # the same edit again: the first one's entry
    assert [(e.emoji, e.on) for e in entries[:4] if e] == [("👍", True), ("👍", False)] * 2
    (shown,) = (await store.history(thread.id, None, 10)).messages
    assert shown.reactions is None and shown.body == "v2"


async def test_a_user_has_at_most_ten_emoji_on_one_message(store: Store) -> None:
    thread = await store.ensure_dm("alice", "bob")
    first = await message(store, thread, "alice")
    for i in range(10):
        assert (await store.change(react(thread, "bob", first.seq, f"e{i}"))).entry
    with pytest.raises(TooManyReactions):
        await store.change(react(thread, "bob", first.seq, "one more"))
    # Taking one back makes room; another user has room of their own.
    await store.change(react(thread, "bob", first.seq, "e0", on=False))
    assert (await store.change(react(thread, "bob", first.seq, "one more"))).entry
    assert (await store.change(react(thread, "alice", first.seq, "e1"))).entry


async def test_a_message_carries_at_most_fifty_distinct_emoji(store: Store) -> None:
    users = [f"u{i}" for i in range(6)]
    thread = await group(store, *users)
    first = await message(store, thread, "u0")
    for i in range(50):
        await store.change(react(thread, users[i // 10], first.seq, f"e{i}"))
    with pytest.raises(TooManyReactions):
        await store.change(react(thread, "u5", first.seq, "new"))
    assert (await store.change(react(thread, "u5", first.seq, "e7"))).entry  # a known one
    (shown,) = (await store.history(thread.id, None, 10)).messages
    assert shown.reactions is not None and len(shown.reactions) == 50
