"""The Directory contract, run against every backend: in memory and in Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from realtime.directory.base import Directory, NodeRecord, SessionRecord
from realtime.directory.memory import MemoryDirectory
from realtime.directory.redis import RedisDirectory

TTL = 15.0
NOW = 1_800_000_000_000


@pytest.fixture(params=["memory", "redis"])
async def directory(request: pytest.FixtureRequest) -> AsyncIterator[Directory]:
    d: Directory = (MemoryDirectory(ttl=TTL) if request.param == "memory"
                    else RedisDirectory(request.getfixturevalue("redis_url"), ttl=TTL))
    await d.start()
    yield d
    await d.close()


def record(node: str, heartbeat: int = NOW, sessions: int = 0) -> NodeRecord:
    return NodeRecord(node=node, version="1", started=NOW - 60_000, heartbeat=heartbeat,
                      sessions=sessions, users=sessions)


def session(sid: str, node: str, connected: int = NOW) -> SessionRecord:
    return SessionRecord(session=sid, node=node, connected=connected)


async def test_published_nodes_are_listed_by_id_with_their_last_record(
    directory: Directory,
) -> None:
    await directory.publish(record("b"))
    await directory.publish(record("a", sessions=1))
    await directory.publish(record("a", sessions=2))
    assert await directory.nodes(NOW) == [record("a", sessions=2), record("b")]


async def test_a_node_silent_for_longer_than_the_ttl_is_gone(directory: Directory) -> None:
    await directory.publish(record("a"))
    assert await directory.nodes(NOW + int(TTL * 1000)) == [record("a")]
    assert await directory.nodes(NOW + int(TTL * 1000) + 1) == []


async def test_a_node_that_leaves_is_gone_at_once(directory: Directory) -> None:
    await directory.publish(record("a"))
    await directory.leave("a")
    assert await directory.nodes(NOW) == []


async def test_sessions_are_listed_oldest_first_and_forgotten_when_closed(
    directory: Directory,
) -> None:
    await directory.publish(record("a"))
    await directory.publish(record("b"))
    await directory.update([("alice", session("s2", "b", NOW + 1)),
                            ("alice", session("s1", "a")), ("bob", session("s3", "a"))], [])
    assert await directory.sessions("alice", NOW) == [session("s1", "a"),
                                                      session("s2", "b", NOW + 1)]
    await directory.update([], [("alice", "s1"), ("alice", "unknown")])
    assert await directory.sessions("alice", NOW) == [session("s2", "b", NOW + 1)]


async def test_a_session_opened_and_closed_in_one_update_is_not_listed(
    directory: Directory,
) -> None:
    await directory.publish(record("a"))
    await directory.update([("alice", session("s1", "a"))], [("alice", "s1")])
    assert await directory.sessions("alice", NOW) == []


async def test_the_sessions_of_a_dead_node_are_not_listed(directory: Directory) -> None:
    await directory.publish(record("a"))
    await directory.publish(record("b", heartbeat=NOW - int(TTL * 1000) - 1))
    await directory.update([("alice", session("s1", "a")), ("alice", session("s2", "b"))], [])
    assert await directory.sessions("alice", NOW) == [session("s1", "a")]
