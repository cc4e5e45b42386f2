"""The life of a message through the internal HTTP API, on both stores: PATCH edits and
DELETE unsends any message (entries with user null), history shows the folded state, and
posted messages carry replies and attachments."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from realtime.node import Node
from tests.fixtures.node import API_KEY
from tests.fixtures.wire import wire

PHOTO = {"url": "https://cdn.example.com/a.png", "type": "image/png", "size": 12,
         "duration_ms": 0}


@pytest.fixture
async def node(node_on_each_store: Node) -> Node:
    return node_on_each_store


@pytest.fixture
async def api(node: Node) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(node.api_url, headers={"X-API-Key": API_KEY}) as session:
        yield session


async def call(api: aiohttp.ClientSession, method: str, path: str,
               body: Any = None) -> tuple[int, Any]:
    async with api.request(method, path, json=body) as response:
        return response.status, await response.json()


async def posted(api: aiohttp.ClientSession, thread: str, body: str, **fields: Any) -> int:
    status, answer = await call(api, "POST", f"/v1/threads/{thread}/messages",
                                {"from": "alice", "body": body, **fields})
    assert status == 200, answer
    return int(answer["seq"])


async def test_patch_edits_any_message_and_members_get_an_update_with_user_null(
        node: Node, api: aiohttp.ClientSession) -> None:
    thread = (await node.store.ensure_dm("alice", "bob")).id
    seq = await posted(api, thread, "spam link")
    async with wire(node, "bob") as bob:
        status, answer = await call(api, "PATCH", f"/v1/threads/{thread}/messages/{seq}",
                                    {"body": "[removed link]", "meta": {"moderated": True}})
        assert (status, answer) == (200, {"thread": thread, "seq": seq + 1, "target": seq})
        update = await bob.recv_until("update")
    assert (update["kind"], update["user"], update["body"], update["meta"]) == \
        ("edit", None, "[removed link]", {"moderated": True})
    status, page = await call(api, "GET", f"/v1/threads/{thread}/messages")
    (shown,) = page["messages"]
    assert shown["body"] == "[removed link]" and isinstance(shown["edited"], int)


async def test_delete_unsends_any_message_for_moderation(node: Node,
                                                         api: aiohttp.ClientSession) -> None:
    thread = (await node.store.ensure_dm("alice", "bob")).id
    seq = await posted(api, thread, "abuse", meta={"x": 1}, attachments=[PHOTO])
    async with wire(node, "alice") as alice:
        status, answer = await call(api, "DELETE", f"/v1/threads/{thread}/messages/{seq}")
        assert (status, answer) == (200, {"thread": thread, "seq": seq + 1, "target": seq})
        update = await alice.recv_until("update")
    assert (update["kind"], update["user"], update["target"]) == ("unsend", None, seq)
    status, page = await call(api, "GET", f"/v1/threads/{thread}/messages")
    (shown,) = page["messages"]
    assert shown["deleted"] is True and shown["body"] == "" and shown["meta"] is None
    assert "attachments" not in shown


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_a_missing_or_unsent_message_is_404(node: Node, api: aiohttp.ClientSession,
                                                  method: str) -> None:
    thread = (await node.store.ensure_dm("alice", "bob")).id
    seq = await posted(api, thread, "x")
    body = {"body": "y"} if method == "PATCH" else None
    status, answer = await call(api, method, f"/v1/threads/{thread}/messages/{seq + 5}", body)
    assert (status, answer["code"]) == (404, "not_found")
    status, answer = await call(api, method, f"/v1/threads/dm:no:one/messages/{seq}", body)
    assert (status, answer["code"]) == (404, "not_found")
    await call(api, "DELETE", f"/v1/threads/{thread}/messages/{seq}")
    status, answer = await call(api, method, f"/v1/threads/{thread}/messages/{seq}", body)
    assert (status, answer["code"]) == (404, "not_found")


@pytest.mark.parametrize("seq", ["0", "-1", "x", "1.5", str(2**63)])
async def test_a_bad_seq_in_the_path_is_400(node: Node, api: aiohttp.ClientSession,
                                            seq: str) -> None:
    thread = (await node.store.ensure_dm("alice", "bob")).id
    status, answer = await call(api, "DELETE", f"/v1/threads/{thread}/messages/{seq}")
    assert (status, answer["code"]) == (400, "bad_request")


async def test_an_edit_body_over_the_limit_is_413(node: Node,
                                                  api: aiohttp.ClientSession) -> None:
    thread = (await node.store.ensure_dm("alice", "bob")).id
    seq = await posted(api, thread, "x")
    big = "x" * (node.config.limits.max_body + 1)
    status, answer = await call(api, "PATCH", f"/v1/threads/{thread}/messages/{seq}",
                                {"body": big})
    assert (status, answer["code"]) == (413, "too_large")


async def test_history_over_http_shows_reactions_and_replies(node: Node,
                                                             api: aiohttp.ClientSession) -> None:
    thread = (await node.store.ensure_dm("alice", "bob")).id
    first = await posted(api, thread, "question")
    answer = await posted(api, thread, "answer", reply_to=first, attachments=[PHOTO])
    async with wire(node, "bob") as bob:
        await bob.request({"type": "react", "thread": thread, "seq": first, "emoji": "🤔",
                           "on": True})
    status, page = await call(api, "GET", f"/v1/threads/{thread}/messages")
    assert status == 200
    assert page["messages"][0]["reactions"] == {"🤔": ["bob"]}
    assert page["messages"][1]["reply_to"] == first and page["messages"][1]["seq"] == answer
    assert page["messages"][1]["attachments"] == [PHOTO]


async def test_posting_a_reply_to_no_message_is_404_and_a_bad_attachment_400(
        node: Node, api: aiohttp.ClientSession) -> None:
    thread = (await node.store.ensure_dm("alice", "bob")).id
    path = f"/v1/threads/{thread}/messages"
    status, answer = await call(api, "POST", path, {"body": "x", "reply_to": 7})
    assert (status, answer["code"]) == (404, "not_found")
    bad = {**PHOTO, "url": "http://cdn.example.com/a.png"}
    status, answer = await call(api, "POST", path, {"body": "x", "attachments": [bad]})
    assert (status, answer["code"]) == (400, "bad_request")
    status, page = await call(api, "GET", path)
    assert page["messages"] == []
