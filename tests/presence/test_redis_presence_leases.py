"""Leases: a node that stops renewing (crashed) has its users go offline by themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from presence.redis import RedisPresence


class FakeClock:
    """Time under the test's control, shared by two presence instances."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def nodes(redis_url: str, clock: FakeClock) -> AsyncIterator[tuple[RedisPresence, ...]]:
    # Long loop periods: the test drives renew() and sweep_once() itself.
    made = [RedisPresence(redis_url, ttl=20, heartbeat=3600, sweep=3600, clock=clock)
            for _ in range(2)]
    for p in made:
        await p.start()
    yield tuple(made)
    for p in made:
        await p.close()


async def test_a_crashed_nodes_users_expire_and_one_node_reports_it(
    nodes: tuple[RedisPresence, RedisPresence], clock: FakeClock,
) -> None:
    crashed, survivor = nodes
    reported: list[tuple[str, int]] = []

    async def on_expired(user: str, ts: int) -> None:
        reported.append((user, ts))

    survivor.on_expired = on_expired
    await crashed.join("ann", "s1")
    clock.now += 21  # the crashed node never renewed
    assert await survivor.online(["ann"]) == set()
    assert await survivor.sweep_once() == ["ann"]
    assert reported == [("ann", int((clock.now - 1) * 1000))]
    assert await survivor.sweep_once() == []


async def test_renewed_leases_keep_users_online(
    nodes: tuple[RedisPresence, RedisPresence], clock: FakeClock,
) -> None:
    alive, other = nodes
    await alive.join("ann", "s1")
    for _ in range(5):
        clock.now += 15
        await alive.renew()
    assert await other.sweep_once() == []
    assert await other.online(["ann"]) == {"ann"}


async def test_a_user_on_two_nodes_stays_online_when_one_crashes(
    nodes: tuple[RedisPresence, RedisPresence], clock: FakeClock,
) -> None:
    crashed, alive = nodes
    await crashed.join("ann", "s1")
    await alive.join("ann", "s2")
    clock.now += 15
    await alive.renew()
    clock.now += 10  # s1's lease ended, s2's did not
    assert await alive.sweep_once() == []
    assert await alive.online(["ann"]) == {"ann"}
    assert await alive.leave("ann", "s2") is True


async def test_two_nodes_share_one_view(nodes: tuple[RedisPresence, RedisPresence]) -> None:
    first, second = nodes
    assert await first.join("ann", "s1") is True
    assert await second.join("ann", "s2") is False
    assert await first.leave("ann", "s1") is False
    assert await second.online(["ann"]) == {"ann"}
    assert await second.leave("ann", "s2") is True


async def test_a_users_sessions_outlive_a_cluster_outage_of_a_day(
    nodes: tuple[RedisPresence, RedisPresence], redis_url: str,
) -> None:
    # Were the set to expire before a sweeper saw the lease run out (every node down),
    # the user would never be reported offline and their last_seen never stored.
    from redis.asyncio import Redis

    from presence.redis import KEY_TTL, user_key

    node, _ = nodes
    await node.join("ann", "s1")
    client = Redis.from_url(redis_url)
    try:
        remaining = await client.pttl(user_key("ann"))
    finally:
        await client.aclose()
    assert remaining > (KEY_TTL - 60) * 1000
