"""The Store contract for groups run by their members, blocks and mutes: every change
of a group is an entry of its log, judged and made in one transaction.

Runs on every backend (see ``conftest.py``).
"""

from __future__ import annotations

import pytest

from realtime.store.base import (
    MEMBERS,
    TITLE,
    FixedMembers,
    GroupChange,
    GroupFull,
    NewMessage,
    NotAMember,
    NotAnAdmin,
    Store,
    ThreadNotFound,
)

TS = 1_700_000_000_000


def members(thread: str, user: str | None, add: tuple[str, ...] = (),
            remove: tuple[str, ...] = (), **fields: int) -> GroupChange:
    return GroupChange(thread, user, TS, add=add, remove=remove, **fields)


async def test_a_group_opens_with_its_creator_as_admin_and_an_entry_adding_everyone(
        store: Store) -> None:
    made = await store.open_group("alice", ["bob", "carol", "bob"], "trip", TS)
    assert made.thread.members == ("alice", "bob", "carol")
    assert made.thread.admins == ("alice",) and made.thread.title == "trip"
    entry = made.entry
    assert entry is not None and entry.seq == 1 and entry.kind == MEMBERS
    assert entry.sender == "alice" and entry.target is None
    assert entry.meta == {"added": ["alice", "bob", "carol"], "removed": [],
                          "admins": ["alice"]}
    assert await store.get_thread(made.thread.id) == made.thread
    assert await store.groups_created_since("alice", TS) == 1
    assert await store.groups_created_since("alice", TS + 1) == 0


async def test_an_http_group_has_no_admin_and_its_entry_no_user(store: Store) -> None:
    made = await store.open_group(None, ["bob", "carol"], None, TS)
    assert made.thread.admins == () and made.entry is not None
    assert made.entry.sender is None


async def test_admins_add_and_remove_as_the_next_entries(store: Store) -> None:
    made = await store.open_group("alice", ["bob"], None, TS)
    thread = made.thread.id
    added = await store.change_group(members(thread, "alice", add=("carol", "dave")))
    assert added.entry is not None and added.entry.seq == 2
    assert added.entry.meta == {"added": ["carol", "dave"], "removed": [], "admins": ["alice"]}
    removed = await store.change_group(members(thread, "alice", remove=("bob",)))
    assert removed.entry is not None and removed.entry.seq == 3
    assert removed.thread.members == ("alice", "carol", "dave")
    assert (await store.get_thread(thread)).members == ("alice", "carol", "dave")  # type: ignore[union-attr]


async def test_a_change_that_changes_nothing_makes_no_entry(store: Store) -> None:
    made = await store.open_group("alice", ["bob"], None, TS)
    same = await store.change_group(members(made.thread.id, "alice", add=("bob",),
                                            remove=("zed",)))
    assert same.entry is None and same.thread.members == ("alice", "bob")


async def test_a_member_who_is_no_admin_may_only_remove_themselves(store: Store) -> None:
    thread = (await store.open_group("alice", ["bob", "carol"], None, TS)).thread.id
    with pytest.raises(NotAnAdmin):
        await store.change_group(members(thread, "bob", add=("dave",)))
    with pytest.raises(NotAnAdmin):
        await store.change_group(members(thread, "bob", remove=("carol",)))
    left = await store.change_group(members(thread, "bob", remove=("bob",)))
    assert left.thread.members == ("alice", "carol")


async def test_a_stranger_changes_nothing(store: Store) -> None:
    thread = (await store.open_group("alice", ["bob"], None, TS)).thread.id
    with pytest.raises(NotAMember):
        await store.change_group(members(thread, "mallory", remove=("mallory",)))


async def test_when_the_last_admin_leaves_the_longest_standing_member_takes_over(
        store: Store) -> None:
    thread = (await store.open_group("alice", ["carol"], None, TS)).thread.id
    await store.change_group(members(thread, "alice", add=("bob",)))
    left = await store.change_group(members(thread, "alice", remove=("alice",)))
    # carol was there from the start, bob only since: carol stood longest.
    assert left.thread.admins == ("carol",)
    assert left.entry is not None and left.entry.meta["admins"] == ["carol"]  # type: ignore[index]
    assert (await store.get_thread(thread)).admins == ("carol",)  # type: ignore[union-attr]


async def test_a_dm_never_changes(store: Store) -> None:
    dm = await store.ensure_dm("alice", "bob")
    with pytest.raises(FixedMembers):
        await store.change_group(members(dm.id, "alice", add=("carol",)))
    with pytest.raises(FixedMembers):
        await store.change_group(GroupChange(dm.id, "alice", TS, kind=TITLE, title="x"))


async def test_a_missing_thread(store: Store) -> None:
    with pytest.raises(ThreadNotFound):
        await store.change_group(members("g:nope", None, add=("a",)))


async def test_a_group_has_at_most_its_limit_of_members(store: Store) -> None:
    thread = (await store.open_group("alice", ["bob"], None, TS)).thread.id
    with pytest.raises(GroupFull):
        await store.change_group(members(thread, "alice", add=("c", "d"), max_members=3))
    made = await store.change_group(members(thread, "alice", add=("c",), max_members=3))
    assert len(made.thread.members) == 3


async def test_admins_rename_as_an_entry(store: Store) -> None:
    thread = (await store.open_group("alice", ["bob"], "old", TS)).thread.id
    with pytest.raises(NotAnAdmin):
        await store.change_group(GroupChange(thread, "bob", TS, kind=TITLE, title="new"))
    renamed = await store.change_group(GroupChange(thread, "alice", TS, kind=TITLE,
                                                   title="new"))
    assert renamed.entry is not None and renamed.entry.kind == TITLE
    assert renamed.entry.body == "new" and renamed.thread.title == "new"
    again = await store.change_group(GroupChange(thread, "alice", TS, kind=TITLE, title="new"))
    assert again.entry is None


async def test_a_removed_member_replays_up_to_their_removal_and_nothing_after(
        store: Store) -> None:
    thread = (await store.open_group("alice", ["bob"], None, TS)).thread.id
    await store.append(NewMessage(thread, "alice", "before", ts=TS))
    removal = (await store.change_group(members(thread, "alice", remove=("bob",)))).entry
    assert removal is not None
    await store.append(NewMessage(thread, "alice", "after", ts=TS))
    replay = await store.messages_after("bob", 0, 100)
    assert [m.seq for m in replay] == [1, 2, 3]
    assert replay[-1].kind == MEMBERS and replay[-1].meta["removed"] == ["bob"]  # type: ignore[index]
    assert await store.messages_after("bob", removal.pos, 100) == []
    with pytest.raises(NotAMember):
        await store.append(NewMessage(thread, "bob", "still here?", ts=TS))


async def test_a_member_added_again_replays_again(store: Store) -> None:
    thread = (await store.open_group("alice", ["bob"], None, TS)).thread.id
    removal = (await store.change_group(members(thread, "alice", remove=("bob",)))).entry
    assert removal is not None
    await store.change_group(members(thread, "alice", add=("bob",)))
    await store.append(NewMessage(thread, "alice", "welcome back", ts=TS))
    bodies = [m.body for m in await store.messages_after("bob", removal.pos, 100)]
    assert bodies[-1] == "welcome back"


async def test_blocks_are_one_way_and_undone(store: Store) -> None:
    await store.set_block("alice", "bob", True)
    await store.set_block("alice", "bob", True)
    assert await store.blockers("bob", ["alice", "carol"]) == {"alice"}
    assert await store.blockers("alice", ["bob"]) == set()
    assert await store.blocked_by("alice") == {"bob"}
    dm = await store.ensure_dm("bob", "alice")
    assert dm.blocked == ("alice",)
    assert (await store.get_thread(dm.id)).blocked == ("alice",)  # type: ignore[union-attr]
    await store.set_block("alice", "bob", False)
    assert await store.blockers("bob", ["alice"]) == set()
    assert (await store.get_thread(dm.id)).blocked == ()  # type: ignore[union-attr]


async def test_mutes_until_a_time_or_for_good(store: Store) -> None:
    dm = await store.ensure_dm("alice", "bob")
    await store.set_mute(dm.id, "alice", TS + 1000)
    await store.set_mute(dm.id, "bob", True)
    assert await store.muted(dm.id, ["alice", "bob"], TS) == {"alice", "bob"}
    assert await store.muted(dm.id, ["alice", "bob"], TS + 1000) == {"bob"}
    by_thread = {s.thread.id: s.muted for s in await store.threads_of("alice")}
    assert by_thread == {dm.id: TS + 1000}
    assert (await store.threads_of("bob"))[0].muted is True
    await store.set_mute(dm.id, "bob", False)
    assert await store.muted(dm.id, ["bob"], TS) == set()
    assert (await store.threads_of("bob"))[0].muted is False


async def test_only_members_mute(store: Store) -> None:
    dm = await store.ensure_dm("alice", "bob")
    with pytest.raises(NotAMember):
        await store.set_mute(dm.id, "carol", True)
    with pytest.raises(ThreadNotFound):
        await store.set_mute("g:nope", "carol", True)


async def test_thread_lists_carry_admins(store: Store) -> None:
    made = await store.open_group("alice", ["bob"], "t", TS)
    (summary,) = await store.threads_of("bob")
    assert summary.thread.admins == ("alice",) and summary.unread == 0
    assert summary.thread == made.thread
