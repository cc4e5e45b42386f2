"""The internal HTTP API against a running node, on each store backend.

Calls go over real HTTP (aiohttp's client) and live deliveries are watched from real
WebSocket clients (websockets).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect

from realtime.node import Node
from tests.fixtures.node import API_KEY, NodeFactory, node_config

V1_ROUTES = [
    ("POST", "/v1/threads"),
    ("POST", "/v1/threads/t1/members"),
    ("POST", "/v1/threads/t1/messages"),
    ("GET", "/v1/threads/t1/messages"),
    ("PATCH", "/v1/threads/t1/messages/1"),
    ("DELETE", "/v1/threads/t1/messages/1"),
    ("POST", "/v1/notify"),
    ("PUT", "/v1/posts/p1"),
    ("POST", "/v1/posts/p1/likes"),
    ("GET", "/v1/posts/p1/likes"),
    ("POST", "/v1/devices"),
    ("DELETE", "/v1/devices/tok"),
    ("GET", "/v1/presence?users=alice"),
]


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str:
    """The store backend: SQLite ("", the embedded default) unless a test asks for
    each in turn with ``@both_stores``."""
    backend = getattr(request, "param", "sqlite")
    return "" if backend == "sqlite" else request.getfixturevalue("postgres_dsn")


both_stores = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
"""Run a test that depends on what the store does on every backend."""


@pytest.fixture
async def node(database_url: str, node_factory: NodeFactory,
               tmp_path: Path) -> AsyncIterator[Node]:
    if not database_url:
        yield await node_factory()
        return
    from realtime.store.postgres import PostgresStore

    # The test database is empty: the store applies the schema as it opens.
    started = Node(node_config(data_dir=tmp_path / "pg-node", database_url=database_url),
                   store=PostgresStore(database_url, migrate=True))
    await started.start()
    try:
        yield started
    finally:
        await started.close()


@pytest.fixture
async def api(node: Node) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(node.api_url, headers={"X-API-Key": API_KEY}) as session:
        yield session


async def call(api: aiohttp.ClientSession, method: str, path: str,
               body: Any = None, **kwargs: Any) -> tuple[int, Any]:
    async with api.request(method, path, json=body, **kwargs) as response:
        return response.status, await response.json()


@asynccontextmanager
async def online(node: Node, user: str) -> AsyncIterator[ClientConnection]:
    """A WebSocket session of ``user``, past its ``welcome``."""
    async with connect(f"{node.ws_url}?token={node.token(user)}") as ws:
        assert json.loads(await ws.recv())["type"] == "welcome"
        yield ws


async def group(api: aiohttp.ClientSession, *members: str) -> str:
    status, answer = await call(api, "POST", "/v1/threads", {"members": list(members)})
    assert status == 200, answer
    return answer["thread"]


# -- the key ---------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), V1_ROUTES)
async def test_every_v1_call_without_a_key_is_refused_401(node: Node, method: str,
                                                          path: str) -> None:
    async with aiohttp.ClientSession(node.api_url) as bare:
        status, answer = await call(bare, method, path, {})
    assert (status, answer["code"]) == (401, "unauthorized")


@pytest.mark.parametrize(("method", "path"), V1_ROUTES)
async def test_every_v1_call_with_a_wrong_key_is_refused_401(node: Node, method: str,
                                                             path: str) -> None:
    async with aiohttp.ClientSession(node.api_url, headers={"X-API-Key": "nope"}) as wrong:
        status, answer = await call(wrong, method, path, {})
    assert (status, answer["code"]) == (401, "unauthorized")


async def test_a_refused_key_changes_nothing(node: Node, api: aiohttp.ClientSession) -> None:
    async with aiohttp.ClientSession(node.api_url, headers={"X-API-Key": "nope"}) as wrong:
        await call(wrong, "PUT", "/v1/posts/p1", {"owner": "alice"})
    assert await node.store.post_owner("p1") is None


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/v1/openapi.json"])
async def test_health_metrics_and_the_document_need_no_key(node: Node, path: str) -> None:
    async with aiohttp.ClientSession(node.api_url) as bare, bare.get(path) as response:
        assert response.status == 200


# -- refusals in general ---------------------------------------------------------------


async def test_a_body_that_is_not_json_is_bad_request(api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "POST", "/v1/threads", data=b"{not json")
    assert (status, answer["code"]) == (400, "bad_request")
    assert "JSON" in answer["message"]


async def test_a_field_of_the_wrong_type_is_bad_request_naming_it(
        api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "POST", "/v1/threads", {"members": "alice"})
    assert (status, answer["code"]) == (400, "bad_request")
    assert "$.members" in answer["message"]


async def test_a_missing_field_is_bad_request_naming_it(api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "POST", "/v1/notify", {"users": ["alice"]})
    assert (status, answer["code"]) == (400, "bad_request")
    assert "data" in answer["message"]


async def test_a_request_body_over_a_mebibyte_is_too_large(api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "POST", "/v1/threads", data=b" " * (2**20 + 1))
    assert (status, answer["code"]) == (413, "too_large")


async def test_an_unknown_route_is_not_found_as_json(api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "GET", "/v1/nothing-here")
    assert (status, answer["code"]) == (404, "not_found")


async def test_a_wrong_method_is_refused_as_json(api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "DELETE", "/v1/threads")
    assert (status, answer["code"]) == (405, "bad_request")


# -- threads ---------------------------------------------------------------------------


@both_stores
async def test_create_thread_makes_a_group_with_its_members_once_each(
        node: Node, api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "POST", "/v1/threads",
                                {"members": ["alice", "bob", "alice"], "title": "Trip"})
    assert status == 200
    thread = await node.store.get_thread(answer["thread"])
    assert thread is not None
    assert (thread.kind, sorted(thread.members), thread.title) == ("group", ["alice", "bob"],
                                                                   "Trip")


async def test_create_thread_needs_at_least_one_member(api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "POST", "/v1/threads", {"members": []})
    assert (status, answer["code"]) == (400, "bad_request")


async def test_create_thread_refuses_an_invalid_user_id(api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "POST", "/v1/threads", {"members": ["a:b"]})
    assert (status, answer["code"]) == (400, "bad_request")


async def test_create_thread_refuses_a_user_id_with_a_trailing_newline(
        api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "POST", "/v1/threads", {"members": ["alice\n"]})
    assert (status, answer["code"]) == (400, "bad_request")


@both_stores
async def test_change_members_adds_then_removes_and_answers_the_members(
        api: aiohttp.ClientSession) -> None:
    thread = await group(api, "alice", "bob")
    status, answer = await call(api, "POST", f"/v1/threads/{thread}/members",
                                {"add": ["carol", "dave"], "remove": ["bob"]})
    assert status == 200
    assert sorted(answer["members"]) == ["alice", "carol", "dave"]


@both_stores
async def test_change_members_of_a_missing_thread_is_not_found(
        api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "POST", "/v1/threads/nope/members", {"add": ["alice"]})
    assert (status, answer["code"]) == (404, "not_found")


@both_stores
async def test_the_members_of_a_dm_cannot_change(node: Node, api: aiohttp.ClientSession) -> None:
    dm = await node.store.ensure_dm("alice", "bob")
    status, answer = await call(api, "POST", f"/v1/threads/{dm.id}/members",
                                {"add": ["carol"]})
    assert (status, answer["code"]) == (400, "bad_request")
    assert sorted((await node.store.get_thread(dm.id)).members) == ["alice", "bob"]  # type: ignore[union-attr]


async def test_change_members_refuses_an_invalid_user_id(api: aiohttp.ClientSession) -> None:
    thread = await group(api, "alice")
    status, answer = await call(api, "POST", f"/v1/threads/{thread}/members",
                                {"add": ["no spaces"]})
    assert (status, answer["code"]) == (400, "bad_request")


# -- posting messages ------------------------------------------------------------------


@both_stores
async def test_a_message_posted_over_http_is_acked_and_reaches_members_live(
        node: Node, api: aiohttp.ClientSession) -> None:
    thread = await group(api, "alice", "bob")
    async with online(node, "bob") as bob:
        status, answer = await call(api, "POST", f"/v1/threads/{thread}/messages",
                                    {"from": "alice", "body": "hello", "meta": {"k": 1}})
        message = json.loads(await bob.recv())
    assert status == 200
    # seq 1 is the group's creation: an update entry, never listed as a message.
    assert answer == {"thread": thread, "seq": 2, "msg": answer["msg"], "ts": answer["ts"]}
    assert message["type"] == "message"
    assert (message["thread"], message["seq"], message["msg"]) == (thread, 2, answer["msg"])
    assert (message["from"], message["body"], message["meta"]) == ("alice", "hello", {"k": 1})


async def test_a_message_without_from_is_a_system_message(
        node: Node, api: aiohttp.ClientSession) -> None:
    thread = await group(api, "alice")
    async with online(node, "alice") as alice:
        status, _ = await call(api, "POST", f"/v1/threads/{thread}/messages",
                               {"body": "welcome"})
        message = json.loads(await alice.recv())
    assert status == 200
    assert message["from"] is None and message["body"] == "welcome"


@both_stores
async def test_posting_as_a_non_member_is_forbidden_and_stores_nothing(
        node: Node, api: aiohttp.ClientSession) -> None:
    thread = await group(api, "alice")
    status, answer = await call(api, "POST", f"/v1/threads/{thread}/messages",
                                {"from": "mallory", "body": "hi"})
    assert (status, answer["code"]) == (403, "forbidden")
    assert (await node.store.history(thread, None, 10)).messages == []


@both_stores
async def test_posting_to_a_missing_thread_is_not_found(api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "POST", "/v1/threads/nope/messages", {"body": "hi"})
    assert (status, answer["code"]) == (404, "not_found")


@both_stores
async def test_a_retry_with_the_same_cid_answers_the_original_and_stores_once(
        node: Node, api: aiohttp.ClientSession) -> None:
    thread = await group(api, "alice")
    body = {"from": "alice", "body": "once", "cid": "c-1"}
    first = await call(api, "POST", f"/v1/threads/{thread}/messages", body)
    second = await call(api, "POST", f"/v1/threads/{thread}/messages", body)
    assert first == second
    assert len((await node.store.history(thread, None, 10)).messages) == 1


@both_stores
async def test_a_system_message_retry_with_the_same_cid_stores_once(
        node: Node, api: aiohttp.ClientSession) -> None:
    thread = await group(api, "alice")
    body = {"body": "once", "cid": "sys-1"}
    first = await call(api, "POST", f"/v1/threads/{thread}/messages", body)
    second = await call(api, "POST", f"/v1/threads/{thread}/messages", body)
    assert first == second
    assert len((await node.store.history(thread, None, 10)).messages) == 1


async def test_a_body_at_the_limit_is_accepted(node: Node, api: aiohttp.ClientSession) -> None:
    thread = await group(api, "alice")
    body = "é" * (node.config.limit_body // 2)
    status, _ = await call(api, "POST", f"/v1/threads/{thread}/messages", {"body": body})
    assert status == 200


async def test_a_body_over_the_limit_is_too_large(node: Node,
                                                  api: aiohttp.ClientSession) -> None:
    thread = await group(api, "alice")
    body = "é" * (node.config.limit_body // 2) + "x"
    status, answer = await call(api, "POST", f"/v1/threads/{thread}/messages", {"body": body})
    assert (status, answer["code"]) == (413, "too_large")


async def test_meta_over_the_limit_is_too_large(node: Node, api: aiohttp.ClientSession) -> None:
    thread = await group(api, "alice")
    meta = {"k": "x" * node.config.limit_meta}
    status, answer = await call(api, "POST", f"/v1/threads/{thread}/messages",
                                {"body": "hi", "meta": meta})
    assert (status, answer["code"]) == (413, "too_large")


async def test_meta_with_an_integer_beyond_64_bits_is_bad_request(
        api: aiohttp.ClientSession) -> None:
    thread = await group(api, "alice")
    status, answer = await call(api, "POST", f"/v1/threads/{thread}/messages",
                                data=b'{"body": "hi", "meta": {"n": 1' + b"0" * 30 + b"}}",
                                headers={"Content-Type": "application/json"})
    assert (status, answer["code"]) == (400, "bad_request")


async def test_a_body_with_a_lone_surrogate_is_bad_request(api: aiohttp.ClientSession) -> None:
    thread = await group(api, "alice")
    status, answer = await call(api, "POST", f"/v1/threads/{thread}/messages",
                                data=b'{"body": "\\ud800"}')
    assert (status, answer["code"]) == (400, "bad_request")


@both_stores
@pytest.mark.parametrize("body", [{"body": "a\x00b"}, {"body": "x", "cid": "\x00"},
                                  {"body": "x", "meta": {"k": {"\x00": 1}}}],
                         ids=["body", "cid", "meta key"])
async def test_a_message_with_a_nul_character_is_bad_request_and_not_stored(
        api: aiohttp.ClientSession, body: dict[str, Any]) -> None:
    thread = await group(api, "alice")
    status, answer = await call(api, "POST", f"/v1/threads/{thread}/messages", body)
    assert (status, answer["code"]) == (400, "bad_request")
    status, page = await call(api, "GET", f"/v1/threads/{thread}/messages")
    assert (status, page["messages"]) == (200, [])


async def test_an_escaped_backslash_before_u0000_is_not_a_nul(
        api: aiohttp.ClientSession) -> None:
    thread = await group(api, "alice")
    status, _ = await call(api, "POST", f"/v1/threads/{thread}/messages",
                           {"body": "\\u0000"})
    assert status == 200
    _, page = await call(api, "GET", f"/v1/threads/{thread}/messages")
    assert [m["body"] for m in page["messages"]] == ["\\u0000"]


async def test_a_message_missing_its_body_is_bad_request(api: aiohttp.ClientSession) -> None:
    thread = await group(api, "alice")
    status, answer = await call(api, "POST", f"/v1/threads/{thread}/messages",
                                {"from": "alice"})
    assert (status, answer["code"]) == (400, "bad_request")


# -- history ---------------------------------------------------------------------------


async def post_many(api: aiohttp.ClientSession, thread: str, n: int) -> None:
    for i in range(n):
        status, _ = await call(api, "POST", f"/v1/threads/{thread}/messages",
                               {"from": "alice", "body": f"m{i + 1}", "cid": f"c{i + 1}"})
        assert status == 200


@both_stores
async def test_history_answers_the_newest_page_in_ascending_seq(
        api: aiohttp.ClientSession) -> None:
    thread = await group(api, "alice")
    await post_many(api, thread, 5)
    status, answer = await call(api, "GET", f"/v1/threads/{thread}/messages?limit=3")
    assert status == 200
    assert [m["seq"] for m in answer["messages"]] == [4, 5, 6]  # seq 1: the creation
    assert answer["more"] is True


@both_stores
async def test_history_before_is_exclusive_and_more_ends(api: aiohttp.ClientSession) -> None:
    thread = await group(api, "alice")
    await post_many(api, thread, 5)
    _, answer = await call(api, "GET", f"/v1/threads/{thread}/messages?before=4&limit=10")
    assert [m["seq"] for m in answer["messages"]] == [2, 3]  # seq 1: the creation
    assert answer["more"] is False


@both_stores
async def test_history_entries_have_the_message_frame_shape(api: aiohttp.ClientSession) -> None:
    thread = await group(api, "alice")
    await post_many(api, thread, 1)
    _, answer = await call(api, "GET", f"/v1/threads/{thread}/messages")
    [message] = answer["messages"]
    assert message == {"type": "message", "thread": thread, "seq": 2, "msg": message["msg"],
                       "from": "alice", "body": "m1", "meta": None, "ts": message["ts"],
                       "cid": "c1"}


@both_stores
async def test_history_of_a_missing_thread_is_not_found(api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "GET", "/v1/threads/nope/messages")
    assert (status, answer["code"]) == (404, "not_found")


@pytest.mark.parametrize("query", ["limit=0", "limit=x", "before=0", "before=-1"])
async def test_history_refuses_a_bad_query(api: aiohttp.ClientSession, query: str) -> None:
    thread = await group(api, "alice")
    status, answer = await call(api, "GET", f"/v1/threads/{thread}/messages?{query}")
    assert (status, answer["code"]) == (400, "bad_request")


# -- notify ----------------------------------------------------------------------------


async def test_notify_delivers_a_notification_to_every_session_of_the_users(
        node: Node, api: aiohttp.ClientSession) -> None:
    async with online(node, "alice") as phone, online(node, "alice") as laptop:
        status, answer = await call(api, "POST", "/v1/notify",
                                    {"users": ["alice"], "data": {"kind": "hello"}})
        frames = [json.loads(await phone.recv()), json.loads(await laptop.recv())]
    assert status == 200
    for frame in frames:
        assert frame == {"type": "notification", "nid": answer["nid"],
                         "data": {"kind": "hello"}, "ts": frame["ts"]}


async def test_notify_lists_as_live_only_the_users_online(
        node: Node, api: aiohttp.ClientSession) -> None:
    async with online(node, "alice"):
        status, answer = await call(api, "POST", "/v1/notify",
                                    {"users": ["alice", "bob", "alice"], "data": {}})
    assert status == 200
    assert (answer["live"], answer["pushed"]) == (["alice"], [])


async def test_notify_gives_each_notification_its_own_id(api: aiohttp.ClientSession) -> None:
    _, first = await call(api, "POST", "/v1/notify", {"users": ["a"], "data": {}})
    _, second = await call(api, "POST", "/v1/notify", {"users": ["a"], "data": {}})
    assert first["nid"] != second["nid"]


async def test_notify_data_over_4_kib_is_too_large(api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "POST", "/v1/notify",
                                {"users": ["alice"], "data": {"k": "x" * 4096}})
    assert (status, answer["code"]) == (413, "too_large")


async def test_notify_data_must_be_a_map(api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "POST", "/v1/notify", {"users": ["alice"], "data": [1]})
    assert (status, answer["code"]) == (400, "bad_request")


async def test_notify_refuses_an_invalid_user_id(api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "POST", "/v1/notify", {"users": [""], "data": {}})
    assert (status, answer["code"]) == (400, "bad_request")


async def test_notify_accepts_push_text_and_queues_nothing_while_push_is_off(
        api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "POST", "/v1/notify",
                                {"users": ["bob"], "data": {},
                                 "push": {"title": "Hi", "body": "there"}})
    assert (status, answer["pushed"]) == (200, [])


# -- posts and likes -------------------------------------------------------------------


@both_stores
async def test_put_post_names_its_owner(node: Node, api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "PUT", "/v1/posts/p1", {"owner": "alice"})
    assert (status, answer) == (200, {"post": "p1", "owner": "alice"})
    assert await node.store.post_owner("p1") == "alice"


async def test_put_post_refuses_an_invalid_post_id(api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "PUT", "/v1/posts/p%20q", {"owner": "alice"})
    assert (status, answer["code"]) == (400, "bad_request")


@both_stores
async def test_a_like_answers_the_new_count(api: aiohttp.ClientSession) -> None:
    await call(api, "POST", "/v1/posts/p1/likes", {"user": "alice", "on": True})
    status, answer = await call(api, "POST", "/v1/posts/p1/likes", {"user": "bob", "on": True})
    assert (status, answer) == (200, {"post": "p1", "count": 2})


@both_stores
async def test_liking_twice_counts_once(api: aiohttp.ClientSession) -> None:
    await call(api, "POST", "/v1/posts/p1/likes", {"user": "alice", "on": True})
    _, answer = await call(api, "POST", "/v1/posts/p1/likes", {"user": "alice", "on": True})
    assert answer["count"] == 1


@both_stores
async def test_an_unlike_lowers_the_count(api: aiohttp.ClientSession) -> None:
    await call(api, "POST", "/v1/posts/p1/likes", {"user": "alice", "on": True})
    _, answer = await call(api, "POST", "/v1/posts/p1/likes", {"user": "alice", "on": False})
    assert answer["count"] == 0


async def test_get_likes_answers_the_count(api: aiohttp.ClientSession) -> None:
    await call(api, "POST", "/v1/posts/p1/likes", {"user": "alice", "on": True})
    status, answer = await call(api, "GET", "/v1/posts/p1/likes")
    assert (status, answer) == (200, {"post": "p1", "count": 1})


async def test_a_post_nobody_liked_has_no_likes(api: aiohttp.ClientSession) -> None:
    _, answer = await call(api, "GET", "/v1/posts/unknown/likes")
    assert answer == {"post": "unknown", "count": 0}


async def test_a_like_needs_a_boolean_on(api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "POST", "/v1/posts/p1/likes", {"user": "alice", "on": 1})
    assert (status, answer["code"]) == (400, "bad_request")


@both_stores
async def test_a_like_over_http_notifies_the_owner_live(node: Node,
                                                       api: aiohttp.ClientSession) -> None:
    await call(api, "PUT", "/v1/posts/p1", {"owner": "alice"})
    async with online(node, "alice") as alice:
        await call(api, "POST", "/v1/posts/p1/likes", {"user": "bob", "on": True})
        frame = json.loads(await alice.recv())
    assert frame["type"] == "notification"
    assert frame["data"] == {"kind": "like", "post": "p1", "user": "bob", "count": 1}


# -- devices ---------------------------------------------------------------------------


@both_stores
async def test_a_registered_device_is_stored_for_its_user(
        node: Node, api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "POST", "/v1/devices",
                                {"user": "alice", "token": "tok-1", "platform": "ios"})
    assert (status, answer) == (200, {"ok": True})
    [device] = await node.store.devices_of(["alice"])
    assert (device.token, device.platform) == ("tok-1", "ios")


async def test_a_device_of_an_unknown_platform_is_bad_request(
        api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "POST", "/v1/devices",
                                {"user": "alice", "token": "tok-1", "platform": "pager"})
    assert (status, answer["code"]) == (400, "bad_request")


@both_stores
async def test_a_deleted_device_is_forgotten(node: Node, api: aiohttp.ClientSession) -> None:
    await call(api, "POST", "/v1/devices", {"user": "alice", "token": "tok:1", "platform": "web"})
    status, answer = await call(api, "DELETE", "/v1/devices/tok:1")
    assert (status, answer) == (200, {"ok": True})
    assert await node.store.devices_of(["alice"]) == []


async def test_deleting_an_unknown_device_is_not_an_error(api: aiohttp.ClientSession) -> None:
    status, answer = await call(api, "DELETE", "/v1/devices/never-seen")
    assert (status, answer) == (200, {"ok": True})


# -- presence --------------------------------------------------------------------------


async def test_presence_shows_a_connected_user_online(node: Node,
                                                      api: aiohttp.ClientSession) -> None:
    async with online(node, "alice"):
        status, answer = await call(api, "GET", "/v1/presence?users=alice")
    assert (status, answer) == (200, {"users": [{"user": "alice", "online": True,
                                                 "last_seen": None}]})


@both_stores
async def test_presence_shows_an_offline_user_with_last_seen(
        node: Node, api: aiohttp.ClientSession) -> None:
    await node.store.set_last_seen("bob", 1_700_000_000_000)
    _, answer = await call(api, "GET", "/v1/presence?users=bob,carol")
    assert answer == {"users": [
        {"user": "bob", "online": False, "last_seen": 1_700_000_000_000},
        {"user": "carol", "online": False, "last_seen": None},
    ]}


@pytest.mark.parametrize("query", ["", "?users=", "?users=a:b"])
async def test_presence_refuses_a_missing_or_invalid_user_list(
        api: aiohttp.ClientSession, query: str) -> None:
    status, answer = await call(api, "GET", f"/v1/presence{query}")
    assert (status, answer["code"]) == (400, "bad_request")
