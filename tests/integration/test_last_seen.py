"""``last_seen`` is the epoch-ms time a user went offline, on every store: in the
``presence`` frame their followers get, and in ``GET /v1/presence`` afterwards."""

from __future__ import annotations

import time

import aiohttp

from protocol.frames import Presence
from realtime.node import Node
from realtime_client import Client
from tests.fixtures.node import API_KEY


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def presence_of(node: Node, user: str) -> dict[str, object]:
    async with aiohttp.ClientSession(headers={"X-API-Key": API_KEY}) as http, \
            http.get(f"{node.api_url}/v1/presence?users={user}") as response:
        assert response.status == 200
        answer = await response.json()
    entry: dict[str, object] = answer["users"][0]
    return entry


async def test_last_seen_is_when_the_last_session_closed(node_on_each_store: Node) -> None:
    node = node_on_each_store
    await node.messaging.thread_for("ann", to="bob")
    async with Client(node.ws_url, node.token("bob")) as bob:
        await bob.subscribe("presence:ann")
        assert (await bob.next_event(Presence)).online is False
        async with Client(node.ws_url, node.token("ann")):
            assert (await bob.next_event(Presence)).online is True
            before = now_ms()
        gone = await bob.next_event(Presence)
        after = now_ms()
    assert gone.online is False
    assert gone.last_seen is not None and before <= gone.last_seen <= after


async def test_the_api_reports_the_same_last_seen_as_the_frame(node_on_each_store: Node) -> None:
    node = node_on_each_store
    await node.messaging.thread_for("ann", to="bob")
    async with Client(node.ws_url, node.token("bob")) as bob:
        await bob.subscribe("presence:ann")
        await bob.next_event(Presence)
        async with Client(node.ws_url, node.token("ann")):
            await bob.next_event(Presence)
        gone = await bob.next_event(Presence)
        reported = await presence_of(node, "ann")
    assert reported == {"user": "ann", "online": False, "last_seen": gone.last_seen}
