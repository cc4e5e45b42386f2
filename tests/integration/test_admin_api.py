"""The admin view of one node: GET /v1/nodes, GET /v1/users/{user}/sessions, the status
data and page, all behind the API key."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from realtime.directory.heartbeat import server_version
from realtime.node import Node
from tests.fixtures.node import API_KEY
from tests.fixtures.wire import wire


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(http: aiohttp.ClientSession, node: Node, path: str,
              **headers: str) -> tuple[int, Any]:
    headers = headers or {"X-API-Key": API_KEY}
    async with http.get(node.api_url + path, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def test_a_single_node_lists_itself_with_its_live_counts(
    node: Node, http: aiohttp.ClientSession,
) -> None:
    before = int(time.time() * 1000)
    async with wire(node, "alice"), wire(node, "alice"), wire(node, "bob"):
        status, body = await get(http, node, "/v1/nodes")
    assert status == 200
    [entry] = body["nodes"]
    assert entry["node"] == node.id and entry["version"] == server_version()
    assert (entry["sessions"], entry["users"]) == (3, 2)
    assert entry["started"] <= before <= entry["heartbeat"]
    assert entry["uptime"] >= 0 and set(entry["rates"]) == {"received", "sent", "errors"}
    assert entry["draining"] is False


async def test_a_users_sessions_are_listed_with_their_node_oldest_first(
    node: Node, http: aiohttp.ClientSession,
) -> None:
    async with wire(node, "alice") as first, wire(node, "alice") as second:
        status, body = await get(http, node, "/v1/users/alice/sessions")
    assert status == 200
    sessions = body["sessions"]
    assert [s["session"] for s in sessions] == [first.welcome["session"],
                                                second.welcome["session"]]
    assert all(s["node"] == node.id for s in sessions)
    assert sessions[0]["connected"] <= sessions[1]["connected"]


async def test_a_closed_session_is_no_longer_listed(
    node: Node, http: aiohttp.ClientSession,
) -> None:
    async with wire(node, "alice"), wire(node, "bob"):
        pass
    # The node ends a session just after the client sees its close: ask until it has.
    async with asyncio.timeout(10):
        while True:
            answer = await get(http, node, "/v1/users/alice/sessions")
            if not answer[1]["sessions"]:
                break
            await asyncio.sleep(0.01)
    assert answer == (200, {"sessions": []})


async def test_an_invalid_user_id_is_a_bad_request(node: Node, http: aiohttp.ClientSession,
                                                   ) -> None:
    status, body = await get(http, node, "/v1/users/no%20spaces/sessions")
    assert status == 400 and body["code"] == "bad_request"


@pytest.mark.parametrize("path", ["/v1/nodes", "/v1/users/alice/sessions", "/v1/status"])
async def test_the_admin_calls_need_the_key(node: Node, http: aiohttp.ClientSession,
                                            path: str) -> None:
    status, body = await get(http, node, path, **{"X-API-Key": "wrong"})
    assert status == 401 and body["code"] == "unauthorized"


async def test_the_status_page_asks_a_browser_for_the_key(
    node: Node, http: aiohttp.ClientSession,
) -> None:
    async with http.get(node.api_url + "/status") as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic ")
    basic = {"Authorization": "Basic " + base64.b64encode(f"admin:{API_KEY}".encode()).decode()}
    async with http.get(node.api_url + "/status", headers=basic) as response:
        assert response.status == 200
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert "<title>realtime status</title>" in await response.text()
    wrong = {"Authorization": "Basic " + base64.b64encode(b"admin:no").decode()}
    async with http.get(node.api_url + "/status", headers=wrong) as r:
        assert r.status == 401


async def test_the_status_data_holds_the_nodes_points_and_recent_errors(
    node: Node, http: aiohttp.ClientSession,
) -> None:
    await node.heartbeat.beat()
    node.recent_errors.emit(_record("store unreachable: secret " + API_KEY))
    status, body = await get(http, node, "/v1/status")
    assert status == 200
    assert body["node"] == node.id and [n["node"] for n in body["nodes"]] == [node.id]
    assert len(body["points"]) >= 1
    assert set(body["points"][0]) == {"t", "received", "sent", "errors", "sessions",
                                      "p50", "p99"}
    [error] = body["errors"]
    assert error["level"] == "WARNING" and API_KEY not in error["message"]


def _record(message: str) -> Any:
    import logging

    return logging.LogRecord("realtime.test", logging.WARNING, __file__, 1, message, None,
                             None)
