"""The `Presence` contract, run against every implementation."""

import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from presence.memory import MemoryPresence
from presence.presence import Presence
from presence.redis import RedisPresence

PresenceFactory = Callable[[], Awaitable[Presence]]


def _redis_url(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    if request.param == "redis-cluster":
        # A plain URL naming one node: the cluster is recognised from the server.
        cluster = request.getfixturevalue("redis_cluster")
        for port in cluster.ports:  # each test starts from empty primaries
            subprocess.run([cluster.cli, "-h", cluster.host, "-p", str(port), "flushall"],
                           check=True, capture_output=True)
        return f"redis://{cluster.host}:{cluster.ports[0]}"
    return ""


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
async def presence_factory(request: pytest.FixtureRequest) -> AsyncIterator[PresenceFactory]:
    made: list[Presence] = []
    redis_url = _redis_url(request)

    async def make() -> Presence:
        instance: Presence = RedisPresence(redis_url) if redis_url else MemoryPresence()
        await instance.start()
        made.append(instance)
        return instance

    yield make
    for instance in made:
        await instance.close()


async def test_join_reports_coming_online_once(presence_factory: PresenceFactory) -> None:
    presence = await presence_factory()
    assert await presence.join("ann", "s1") is True
    assert await presence.join("ann", "s2") is False


async def test_leave_reports_going_offline_after_the_last_session(
    presence_factory: PresenceFactory,
) -> None:
    presence = await presence_factory()
    await presence.join("ann", "s1")
    await presence.join("ann", "s2")
    assert await presence.leave("ann", "s1") is False
    assert await presence.online(["ann"]) == {"ann"}
    assert await presence.leave("ann", "s2") is True
    assert await presence.online(["ann"]) == set()


async def test_leaving_an_unknown_session_is_not_a_transition(
    presence_factory: PresenceFactory,
) -> None:
    presence = await presence_factory()
    assert await presence.leave("ann", "s1") is False


async def test_online_answers_only_for_users_with_sessions(
    presence_factory: PresenceFactory,
) -> None:
    presence = await presence_factory()
    await presence.join("ann", "s1")
    await presence.join("bob", "s2")
    assert await presence.online(["ann", "bob", "cy"]) == {"ann", "bob"}

