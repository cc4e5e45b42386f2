"""Keepalive: a client that stops answering is closed, one that answers stays, and the
node answers a client's own pings.

The raw aiohttp client here has its automatic pongs off, so each test decides whether
the node's pings get an answer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from protocol.errors import CloseCode
from realtime.node import Node
from tests.fixtures.node import NodeFactory

HEARTBEAT = 1.0
"""Seconds: pings come after 0.5-1 s of silence, the close 0.5 s after an unanswered one."""
WAIT = 10.0


@pytest.fixture
async def node(node_factory: NodeFactory) -> Node:
    return await node_factory(heartbeat=HEARTBEAT)


@asynccontextmanager
async def raw_client(node: Node) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with aiohttp.ClientSession() as http, http.ws_connect(
        node.ws_url, protocols=("rt.v1.json",), autoping=False, autoclose=False,
        headers={"Authorization": f"Bearer {node.token('alice')}"},
    ) as ws:
        welcome = await ws.receive(timeout=WAIT)
        assert json.loads(welcome.data)["type"] == "welcome"
        yield ws


async def test_a_client_that_never_answers_a_ping_is_closed_with_1013(node: Node) -> None:
    async with raw_client(node) as ws:
        ping = await ws.receive(timeout=WAIT)
        assert ping.type is aiohttp.WSMsgType.PING
        close = await ws.receive(timeout=WAIT)
        assert close.type is aiohttp.WSMsgType.CLOSE
        assert close.data == CloseCode.TRY_AGAIN_LATER


async def test_a_client_that_answers_its_pings_stays_connected(node: Node) -> None:
    async with raw_client(node) as ws:
        for _ in range(3):  # each ping comes at least one keepalive tick after the pong
            ping = await ws.receive(timeout=WAIT)
            assert ping.type is aiohttp.WSMsgType.PING
            await ws.pong(ping.data)
        await ws.send_str(json.dumps({"type": "ping", "id": 1}))
        while (reply := await ws.receive(timeout=WAIT)).type is aiohttp.WSMsgType.PING:
            await ws.pong(reply.data)
        assert json.loads(reply.data) == {"type": "pong", "id": 1}


async def test_the_node_answers_a_clients_ping(node: Node) -> None:
    async with raw_client(node) as ws:
        await ws.ping(b"are you there")
        while (reply := await ws.receive(timeout=WAIT)).type is aiohttp.WSMsgType.PING:
            pass  # the node's own keepalive ping, unanswered here
        assert reply.type is aiohttp.WSMsgType.PONG
        assert reply.data == b"are you there"
