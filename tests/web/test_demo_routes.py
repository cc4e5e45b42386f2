"""The demo's routes on the public port: only in development mode, and careful with input."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from realtime.demo import CONTENT_SECURITY_POLICY, DEMO_POST, STATE_FILE
from realtime.node import Node
from tests.fixtures.node import NodeFactory
from tests.fixtures.wire import wire

DEMO_PATHS = ["/", "/demo", "/client.js", "/demo.js", "/demo.css"]


def public_url(node: Node, path: str) -> str:
    return f"http://127.0.0.1:{node.port}{path}"


async def post(node: Node, path: str, body: Any = None, *, raw: bytes | None = None,
               token: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else json.dumps(body).encode()
    async with aiohttp.ClientSession() as http, \
            http.post(public_url(node, path), data=data, headers=headers) as response:
        text = await response.text()
        return response.status, json.loads(text) if response.content_type == \
            "application/json" else {}


async def get(node: Node, path: str) -> aiohttp.ClientResponse:
    async with aiohttp.ClientSession() as http, http.get(public_url(node, path)) as response:
        await response.read()
        return response


@pytest.fixture
async def dev_node(node_factory: NodeFactory) -> Node:
    return await node_factory(dev_mode=True)


# -- only in development mode ---------------------------------------------------------------


@pytest.mark.parametrize("path", DEMO_PATHS)
async def test_a_node_with_configured_secrets_serves_no_demo_file(node: Node, path: str) -> None:
    assert (await get(node, path)).status == 404


@pytest.mark.parametrize("path", ["/dev/token", "/dev/join"])
async def test_a_node_with_configured_secrets_mints_no_token(node: Node, path: str) -> None:
    status, _ = await post(node, path, {"user": "alice"}, token=node.token("alice"))
    assert status == 404


@pytest.mark.parametrize("path", DEMO_PATHS)
async def test_a_development_node_serves_the_demo_files(dev_node: Node, path: str) -> None:
    response = await get(dev_node, path)
    assert response.status == 200
    expected = {"js": "text/javascript", "css": "text/css"}.get(path.rpartition(".")[2],
                                                                 "text/html")
    assert response.content_type == expected


async def test_the_demo_page_may_load_only_its_own_files(dev_node: Node) -> None:
    response = await get(dev_node, "/demo")
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


async def test_the_demo_routes_stay_off_the_internal_api_port(dev_node: Node) -> None:
    async with aiohttp.ClientSession() as http, \
            http.post(f"{dev_node.api_url}/dev/token", json={"user": "alice"}) as response:
        assert response.status == 404


# -- tokens -----------------------------------------------------------------------------------


async def test_a_dev_token_opens_a_connection_as_that_user(dev_node: Node) -> None:
    status, body = await post(dev_node, "/dev/token", {"user": "alice"})
    assert status == 200 and body["user"] == "alice"
    async with wire(dev_node, "alice", token=body["token"], in_query=True) as ws:
        assert ws.welcome["user"] == "alice"


BAD_USERS = {
    "empty": "",
    "colon": "dm:alice",
    "space": "al ice",
    "too long": "a" * 65,
    "not a string": 42,
    "null": None,
    "non-ascii": "alïce",
}


@pytest.mark.parametrize("user", BAD_USERS.values(), ids=BAD_USERS.keys())
async def test_a_dev_token_for_an_invalid_user_id_is_refused(dev_node: Node, user: Any) -> None:
    status, body = await post(dev_node, "/dev/token", {"user": user})
    assert status == 400 and body["code"] == "bad_request" and body["message"]


@pytest.mark.parametrize("raw", [b"", b"not json", b"[\"alice\"]", b"{}"],
                         ids=["empty", "not json", "a list", "no user"])
async def test_a_dev_token_request_without_a_user_is_refused(dev_node: Node, raw: bytes) -> None:
    status, body = await post(dev_node, "/dev/token", raw=raw)
    assert status == 400 and body["code"] == "bad_request"


async def test_a_huge_dev_token_request_is_refused(dev_node: Node) -> None:
    status, body = await post(dev_node, "/dev/token", {"user": "alice", "pad": "x" * 5000})
    assert status == 413 and body["code"] == "too_large"


# -- joining the demo -------------------------------------------------------------------------


async def test_joining_needs_a_valid_token(dev_node: Node) -> None:
    assert (await post(dev_node, "/dev/join", {}))[0] == 401
    assert (await post(dev_node, "/dev/join", {}, token="not-a-token"))[0] == 401


async def test_everyone_who_joins_shares_one_lobby(dev_node: Node) -> None:
    _, alice = await post(dev_node, "/dev/join", {}, token=dev_node.token("alice"))
    _, bob = await post(dev_node, "/dev/join", {}, token=dev_node.token("bob"))
    assert alice["lobby"] == bob["lobby"] and alice["post"] == bob["post"] == DEMO_POST
    thread = await dev_node.messaging.find_thread(alice["lobby"])
    assert set(thread.members) == {"alice", "bob"}


async def test_a_newcomer_is_announced_in_the_lobby_once(dev_node: Node) -> None:
    _, alice = await post(dev_node, "/dev/join", {}, token=dev_node.token("alice"))
    async with wire(dev_node, "alice") as ws:
        await post(dev_node, "/dev/join", {}, token=dev_node.token("bob"))
        announced = await ws.recv_until("message")
        await post(dev_node, "/dev/join", {}, token=dev_node.token("bob"))
        page = await ws.request({"type": "history", "thread": alice["lobby"]})
    assert announced["from"] is None and announced["meta"] == {"kind": "join", "user": "bob"}
    bodies = [m["body"] for m in page["messages"]]
    assert bodies == ["alice joined the lobby", "bob joined the lobby"]


async def test_the_lobby_survives_a_restart(node_factory: NodeFactory, tmp_path: Any) -> None:
    first = await node_factory(dev_mode=True, data_dir=tmp_path / "data")
    _, before = await post(first, "/dev/join", {}, token=first.token("alice"))
    await first.close()
    second = await node_factory(dev_mode=True, data_dir=tmp_path / "data")
    _, after = await post(second, "/dev/join", {}, token=second.token("bob"))
    assert after["lobby"] == before["lobby"]
    assert (tmp_path / "data" / STATE_FILE).exists()


async def test_the_first_to_join_owns_the_demo_post(dev_node: Node) -> None:
    await post(dev_node, "/dev/join", {}, token=dev_node.token("alice"))
    await post(dev_node, "/dev/join", {}, token=dev_node.token("bob"))
    assert await dev_node.store.post_owner(DEMO_POST) == "alice"
