"""Abuse limits at the handshake: each refuses with its documented code, and the node
keeps serving everyone else.

The handshake rate per address, the Origin allow-list, connections per node and the
handshake timeout. (Frame, body and request sizes, the per-connection rate and topics
per session are tested with the features they guard, in tests/integration.)
Clients on other addresses connect from 127.0.0.2 and up: all of 127/8 is loopback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from realtime.node import Node
from tests.fixtures.node import NodeFactory
from tests.fixtures.wire import WAIT, wire

RATE = 0.01
"""Handshakes per second per address: far too slow to refill while a test runs."""
BURST = 2
CHAT = "https://chat.example.com"


async def handshake(node: Node, *, token: str | None = None, source: str = "127.0.0.1",
                    headers: Mapping[str, str] | None = None) -> tuple[int, Any, Any]:
    """Attempt a handshake from ``source``; return (status, JSON body or None, headers).
    An accepted one (101) is closed at once, after its welcome."""
    extra = dict(headers or {})
    if token is not None:
        extra["Authorization"] = f"Bearer {token}"
    try:
        async with connect(node.ws_url, additional_headers=extra, open_timeout=WAIT,
                           proxy=None, local_addr=(source, 0)) as ws:
            welcome = json.loads(await ws.recv())
            return 101, welcome, ws.response.headers
    except InvalidStatus as exc:
        response = exc.response
        return response.status_code, json.loads(response.body or b"null"), response.headers


# -- handshakes per address ----------------------------------------------------------


async def test_past_the_handshake_rate_an_address_is_refused_with_429(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(limit_handshakes=RATE, limit_handshake_burst=BURST)
    for _ in range(BURST):
        assert (await handshake(node, token=node.token("alice")))[0] == 101
    status, body, headers = await handshake(node, token=node.token("alice"))
    assert (status, body["code"]) == (429, "rate_limited") and body["message"]
    assert int(headers["Retry-After"]) >= 1


async def test_refused_handshakes_count_against_the_rate(node_factory: NodeFactory) -> None:
    node = await node_factory(limit_handshakes=RATE, limit_handshake_burst=BURST)
    for _ in range(BURST):
        assert (await handshake(node, token="guessed-token"))[0] == 401
    status, body, _ = await handshake(node, token=node.token("alice"))
    assert (status, body["code"]) == (429, "rate_limited")


async def test_another_address_is_served_while_one_is_limited(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(limit_handshakes=RATE, limit_handshake_burst=BURST)
    for _ in range(BURST + 1):
        await handshake(node, token=node.token("mallory"))
    status, welcome, _ = await handshake(node, token=node.token("alice"), source="127.0.0.2")
    assert (status, welcome["user"]) == (101, "alice")


async def test_sessions_open_on_a_limited_address_keep_working(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(limit_handshakes=RATE, limit_handshake_burst=1)
    async with wire(node, "alice") as alice:
        assert (await handshake(node, token=node.token("alice")))[0] == 429
        assert (await alice.request({"type": "ping"}))["type"] == "pong"


async def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_rate(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(limit_handshakes=RATE, limit_handshake_burst=1,
                              trusted_proxies="127.0.0.1")
    first = {"X-Forwarded-For": "198.51.100.1"}
    await handshake(node, token=node.token("alice"), headers=first)
    limited, _, _ = await handshake(node, token=node.token("alice"), headers=first)
    other, _, _ = await handshake(node, token=node.token("alice"),
                                  headers={"X-Forwarded-For": "198.51.100.2"})
    assert (limited, other) == (429, 101)


async def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(limit_handshakes=RATE, limit_handshake_burst=1,
                              trusted_proxies="10.0.0.0/8")
    await handshake(node, token=node.token("alice"), headers={"X-Forwarded-For": "192.0.2.1"})
    status, _, _ = await handshake(node, token=node.token("alice"),
                                   headers={"X-Forwarded-For": "192.0.2.2"})
    assert status == 429


# -- the Origin allow-list -----------------------------------------------------------


async def test_a_browser_origin_not_allowed_is_refused_with_403(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(allowed_origins=CHAT)
    status, body, _ = await handshake(node, token=node.token("alice"),
                                      headers={"Origin": "https://evil.example"})
    assert (status, body["code"]) == (403, "forbidden") and body["message"]


async def test_an_allowed_browser_origin_connects(node_factory: NodeFactory) -> None:
    node = await node_factory(allowed_origins=f"https://other.example, {CHAT}")
    status, welcome, _ = await handshake(node, token=node.token("alice"),
                                         headers={"Origin": CHAT})
    assert (status, welcome["user"]) == (101, "alice")


async def test_a_client_without_origin_connects_whatever_the_allow_list(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(allowed_origins=CHAT)
    status, welcome, _ = await handshake(node, token=node.token("alice"))
    assert (status, welcome["user"]) == (101, "alice")


async def test_the_origin_is_checked_before_the_token(node_factory: NodeFactory) -> None:
    node = await node_factory(allowed_origins=CHAT)
    status, body, _ = await handshake(node, headers={"Origin": "https://evil.example"})
    assert (status, body["code"]) == (403, "forbidden")


async def test_without_an_allow_list_any_origin_connects(node: Node) -> None:
    status, _, _ = await handshake(node, token=node.token("alice"),
                                   headers={"Origin": "https://anywhere.example"})
    assert status == 101


# -- connections per node ------------------------------------------------------------


async def test_past_the_connection_limit_the_handshake_is_refused_with_503(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(limit_connections=2)
    async with wire(node, "alice"), wire(node, "bob"):
        status, body, _ = await handshake(node, token=node.token("carol"))
    assert (status, body["code"]) == (503, "unavailable") and body["message"]


async def test_a_full_node_keeps_serving_its_sessions(node_factory: NodeFactory) -> None:
    node = await node_factory(limit_connections=2)
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        await handshake(node, token=node.token("carol"))
        ack = await alice.request({"type": "send", "to": "bob", "cid": "c1", "body": "hi"})
        message = await bob.recv_until("message")
    assert ack["type"] == "ack" and message["body"] == "hi"


# -- the handshake timeout -----------------------------------------------------------


async def cut_off(node: Node, sent: bytes) -> bytes:
    """Open a TCP connection, send ``sent`` and nothing more; return what the node sends
    before it closes the connection (bounded: a node that never does fails the test)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    try:
        writer.write(sent)
        await writer.drain()
        async with asyncio.timeout(WAIT):
            return await reader.read()  # until EOF
    finally:
        writer.close()


PARTIAL = b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"


async def test_a_client_that_never_finishes_its_headers_is_cut_off(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(handshake_timeout=0.2)
    assert await cut_off(node, PARTIAL) == b""


async def test_a_client_that_sends_nothing_is_cut_off(node_factory: NodeFactory) -> None:
    node = await node_factory(handshake_timeout=0.2)
    assert await cut_off(node, b"") == b""


async def test_a_session_outlives_the_handshake_timeout(node_factory: NodeFactory) -> None:
    node = await node_factory(handshake_timeout=0.2)
    async with wire(node, "alice") as alice:
        # Opened after alice's session, cut off after the timeout: alice's is older.
        await cut_off(node, PARTIAL)
        assert (await alice.request({"type": "ping"}))["type"] == "pong"


async def test_others_connect_while_a_client_holds_a_handshake_open(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(handshake_timeout=30.0)
    _, writer = await asyncio.open_connection("127.0.0.1", node.port)
    try:
        writer.write(PARTIAL)
        await writer.drain()
        status, welcome, _ = await handshake(node, token=node.token("alice"))
    finally:
        writer.close()
    assert (status, welcome["user"]) == (101, "alice")
