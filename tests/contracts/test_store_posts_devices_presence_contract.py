"""The Store contract for posts and likes, push devices, last seen and shared threads."""

from __future__ import annotations

import asyncio

from realtime.store.base import DeviceToken, Store

# -- posts and likes ---------------------------------------------------------------------


async def test_post_owner_is_none_until_recorded(store: Store) -> None:
    assert await store.post_owner("p1") is None
    await store.set_post_owner("p1", "alice")
    assert await store.post_owner("p1") == "alice"


async def test_post_owner_can_change(store: Store) -> None:
    await store.set_post_owner("p1", "alice")
    await store.set_post_owner("p1", "bob")
    assert await store.post_owner("p1") == "bob"


async def test_a_post_needs_no_registration_to_be_liked(store: Store) -> None:
    assert await store.like_count("p1") == 0
    change = await store.set_like("p1", "alice", True)
    assert (change.count, change.changed) == (1, True)
    assert await store.like_count("p1") == 1
    assert await store.post_owner("p1") is None


async def test_liking_twice_counts_once(store: Store) -> None:
    await store.set_like("p1", "alice", True)
    again = await store.set_like("p1", "alice", True)
    assert (again.count, again.changed) == (1, False)


async def test_unliking_what_was_not_liked_changes_nothing(store: Store) -> None:
    await store.set_like("p1", "alice", True)
    change = await store.set_like("p1", "bob", False)
    assert (change.count, change.changed) == (1, False)
    never = await store.set_like("p2", "bob", False)
    assert (never.count, never.changed) == (0, False)


async def test_unlike_lowers_the_count(store: Store) -> None:
    await store.set_like("p1", "alice", True)
    await store.set_like("p1", "bob", True)
    change = await store.set_like("p1", "alice", False)
    assert (change.count, change.changed) == (1, True)
    assert await store.like_count("p1") == 1


async def test_concurrent_likes_count_each_user_once(store: Store) -> None:
    users = [f"u{i}" for i in range(50)]
    await asyncio.gather(*(store.set_like("hot", user, True) for user in users * 2))
    assert await store.like_count("hot") == 50


async def test_likes_of_posts_are_independent(store: Store) -> None:
    await store.set_like("p1", "alice", True)
    await store.set_like("p2", "alice", True)
    await store.set_like("p2", "bob", True)
    assert (await store.like_count("p1"), await store.like_count("p2")) == (1, 2)


# -- devices -----------------------------------------------------------------------------


async def test_devices_of_lists_every_token_of_the_users(store: Store) -> None:
    await store.add_device("alice", "t1", "android")
    await store.add_device("alice", "t2", "ios")
    await store.add_device("bob", "t3", "web")
    await store.add_device("carol", "t4", "web")
    found = await store.devices_of(["alice", "bob", "nobody"])
    assert sorted(found, key=lambda d: d.token) == [
        DeviceToken("alice", "t1", "android"),
        DeviceToken("alice", "t2", "ios"),
        DeviceToken("bob", "t3", "web"),
    ]


async def test_devices_of_nobody_is_empty(store: Store) -> None:
    await store.add_device("alice", "t1", "android")
    assert await store.devices_of([]) == []


async def test_a_token_registered_again_moves_to_its_new_user(store: Store) -> None:
    await store.add_device("alice", "t1", "android")
    await store.add_device("bob", "t1", "ios")
    assert await store.devices_of(["alice"]) == []
    assert await store.devices_of(["bob"]) == [DeviceToken("bob", "t1", "ios")]


async def test_remove_device(store: Store) -> None:
    await store.add_device("alice", "t1", "android")
    assert await store.remove_device("t1")
    assert not await store.remove_device("t1")
    assert await store.devices_of(["alice"]) == []


# -- last seen ---------------------------------------------------------------------------


async def test_last_seen_only_of_users_ever_seen(store: Store) -> None:
    await store.set_last_seen("alice", 1_000)
    assert await store.last_seen(["alice", "bob"]) == {"alice": 1_000}


async def test_last_seen_of_concurrent_disconnects_keeps_each_users_latest(
        store: Store) -> None:
    # Together, these may share one batch: one user twice, in both orders.
    await asyncio.gather(
        store.set_last_seen("alice", 2_000), store.set_last_seen("alice", 1_000),
        store.set_last_seen("bob", 5_000), store.set_last_seen("carol", 7_000),
        store.set_last_seen("carol", 9_000),
    )
    assert await store.last_seen(["alice", "bob", "carol"]) == {
        "alice": 2_000, "bob": 5_000, "carol": 9_000}


async def test_last_seen_never_moves_backwards(store: Store) -> None:
    await store.set_last_seen("alice", 2_000)
    await store.set_last_seen("alice", 1_000)
    assert await store.last_seen(["alice"]) == {"alice": 2_000}
    await store.set_last_seen("alice", 3_000)
    assert await store.last_seen(["alice"]) == {"alice": 3_000}


# -- shared threads ----------------------------------------------------------------------


async def test_shares_thread_through_a_dm(store: Store) -> None:
    await store.ensure_dm("alice", "bob")
    assert await store.shares_thread("alice", "bob")
    assert await store.shares_thread("bob", "alice")
    assert not await store.shares_thread("alice", "carol")


async def test_shares_thread_through_a_group_until_removed(store: Store) -> None:
    group = await store.create_group(["alice", "bob", "carol"])
    assert await store.shares_thread("alice", "carol")
    await store.change_members(group.id, remove=["carol"])
    assert not await store.shares_thread("alice", "carol")
