"""Only members read and write a thread; identity comes only from a verified token.

The authorization matrix, over a real node. Rows already proven elsewhere are not
repeated here: a non-member's and a missing thread's ``forbidden`` for every
thread-scoped frame (tests/integration/test_bad_input.py), the usual bad tokens at the
handshake (test_auth_handshake.py) and in ``refresh`` (test_tokens.py), presence of a
stranger (test_live_presence.py), every ``/v1`` route without or with a wrong key, and
posting over HTTP as a non-member (test_http_api.py). Here: members may do what
outsiders may not, a member removed loses it at once, fields naming a user in a frame
are ignored, forged tokens of every known kind are refused, and the HTTP API cannot be
reached without its key by any spelling of a path, by any other carrier of the key, or
from the public port.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from realtime.node import Node
from tests.fixtures.node import API_KEY, JWT_SECRET, NodeFactory
from tests.fixtures.wire import Wire, refusal, wire

LATER = int(time.time()) + 3600


@dataclass
class Group:
    node: Node
    api: aiohttp.ClientSession
    thread: str
    """A group of alice and bob holding one message from bob."""


@pytest.fixture
async def group(node: Node) -> AsyncIterator[Group]:
    async with aiohttp.ClientSession(node.api_url, headers={"X-API-Key": API_KEY}) as api:
        async with api.post("/v1/threads", json={"members": ["alice", "bob"]}) as response:
            thread = (await response.json())["thread"]
        async with api.post(f"/v1/threads/{thread}/messages",
                            json={"from": "bob", "body": "first"}) as response:
            assert response.status == 200
        yield Group(node, api, thread)


async def remove(group: Group, user: str) -> None:
    async with group.api.post(f"/v1/threads/{group.thread}/members",
                              json={"remove": [user]}) as response:
        assert response.status == 200, await response.text()


async def answers(w: Wire, frame: dict[str, Any], *, replied: bool = True) -> list[dict[str, Any]]:
    """Send ``frame`` with an id and return every frame answering it: its reply, then
    whatever else answered it by the time a ping after it is answered. ``replied``
    False: a frame answered only when it fails (``typing``), so do not wait for one."""
    if replied:
        await w.request({**frame, "id": "probe"})
    else:
        await w.send({**frame, "id": "probe"})
    await w.request({"type": "ping", "id": "barrier"})
    return [f for f in w.received if f.get("id") == "probe"]


# -- thread-scoped frames: members may, former members may not -----------------------


THREAD_FRAMES = {
    "send": ({"type": "send", "cid": "x", "body": "x"}, "ack"),
    "history": ({"type": "history"}, "history"),
    "read": ({"type": "read", "seq": 1}, "ack"),
    "typing": ({"type": "typing", "on": True}, None),
}


@pytest.mark.parametrize(("frame", "reply"), THREAD_FRAMES.values(), ids=THREAD_FRAMES.keys())
async def test_a_member_may_use_every_thread_frame(group: Group, frame: dict[str, Any],
                                                   reply: str | None) -> None:
    async with wire(group.node, "alice") as alice:
        got = await answers(alice, {**frame, "thread": group.thread}, replied=bool(reply))
    assert [f["type"] for f in got] == ([reply] if reply else [])


@pytest.mark.parametrize(("frame", "reply"), THREAD_FRAMES.values(), ids=THREAD_FRAMES.keys())
async def test_a_removed_member_is_forbidden_every_thread_frame(
    group: Group, frame: dict[str, Any], reply: str | None,
) -> None:
    await remove(group, "alice")
    async with wire(group.node, "alice") as alice:
        got = await answers(alice, {**frame, "thread": group.thread})
    assert [(f["type"], f.get("code")) for f in got] == [("error", "forbidden")]


async def test_a_removed_member_with_an_open_session_is_forbidden_at_once(group: Group) -> None:
    async with wire(group.node, "alice") as alice:
        await remove(group, "alice")
        got = await answers(alice, {"type": "history", "thread": group.thread})
    assert [f.get("code") for f in got] == ["forbidden"]


async def test_a_removed_member_gets_no_later_message(group: Group) -> None:
    async with wire(group.node, "alice") as alice, wire(group.node, "bob") as bob:
        await remove(group, "alice")
        removal = await alice.recv_until("update")  # the entry that removed her: hers
        assert removal["kind"] == "members" and removal["removed"] == ["alice"]
        await bob.request({"type": "send", "thread": group.thread, "cid": "c1",
                           "body": "after"})
        await alice.request({"type": "ping"})  # anything sent to alice would come first
    assert [f["type"] for f in alice.received] == ["update", "pong"]


async def test_a_removed_members_messages_stay_in_the_thread(group: Group) -> None:
    async with wire(group.node, "alice") as alice:
        await alice.request({"type": "send", "thread": group.thread, "cid": "c1",
                             "body": "mine"})
    await remove(group, "alice")
    async with group.api.get(f"/v1/threads/{group.thread}/messages") as response:
        page = await response.json()
    assert [m["body"] for m in page["messages"]] == ["first", "mine"]


# -- what a user sees of threads they are not in -------------------------------------


async def test_the_thread_list_names_only_the_users_threads(group: Group) -> None:
    await group.node.store.ensure_dm("bob", "carol")
    async with wire(group.node, "alice") as alice:
        reply = await alice.request({"type": "threads"})
    assert [t["thread"] for t in reply["threads"]] == [group.thread]


async def test_a_sync_from_the_very_start_replays_only_the_users_threads(
    group: Group,
) -> None:
    async with wire(group.node, "bob") as bob:
        await bob.request({"type": "send", "to": "carol", "cid": "c1", "body": "private"})
    async with wire(group.node, "alice") as alice:
        await alice.request({"type": "sync", "cursor": "0"})
    replayed = [f for f in alice.received if f["type"] == "message"]
    assert [(m["thread"], m["body"]) for m in replayed] == [(group.thread, "first")]


@pytest.mark.parametrize("topic", ["user:bob", "thread:dm:bob:carol", "dm:bob:carol",
                                   "presence:", "post:"])
async def test_no_topic_reaches_a_users_or_a_threads_events(node: Node, topic: str) -> None:
    async with wire(node, "alice") as alice:
        got = await answers(alice, {"type": "subscribe", "topic": topic})
    assert [f.get("code") for f in got] == ["bad_request"]


# -- identity comes from the token, never from a frame -------------------------------


async def test_a_user_field_in_typing_is_ignored(group: Group) -> None:
    async with wire(group.node, "alice") as alice, wire(group.node, "bob") as bob:
        await alice.send({"type": "typing", "thread": group.thread, "on": True,
                          "user": "bob"})
        event = await bob.recv_until("typing")
    assert event["user"] == "alice"


async def test_a_user_field_in_read_is_ignored(group: Group) -> None:
    async with wire(group.node, "alice") as alice, wire(group.node, "bob") as bob:
        await alice.request({"type": "read", "thread": group.thread, "seq": 1, "user": "bob"})
        receipt = await bob.recv_until("receipt")
    assert (receipt["user"], receipt["seq"]) == ("alice", 1)


async def test_a_user_field_in_like_is_ignored(node: Node) -> None:
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        await alice.request({"type": "like", "post": "p1", "on": True, "user": "bob"})
        ack = await bob.request({"type": "like", "post": "p1", "on": True})
    assert ack["count"] == 2


async def test_a_user_field_in_device_is_ignored(node: Node) -> None:
    async with wire(node, "alice") as alice:
        await alice.request({"type": "device", "token": "tok-1", "platform": "android",
                             "user": "bob"})
    assert [d.user for d in await node.store.devices_of(["alice", "bob"])] == ["alice"]


# -- forged tokens -------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    return (f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."
            f"{signature}")


def _hmac_signed(claims: dict[str, Any], key: str, alg: str = "HS256") -> str:
    """Signed by hand: PyJWT refuses to sign with an empty or a short key."""
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[alg]
    signing_input = _unsigned({"alg": alg, "typ": "JWT"}, claims)[:-1]
    signature = hmac.new(key.encode(), signing_input.encode(), digest).digest()
    return f"{signing_input}.{_b64(signature)}"


def _rsa_private_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


ALICE = {"sub": "alice", "exp": LATER}
_GOOD_SIGNATURE = jwt.encode(ALICE, JWT_SECRET, algorithm="HS256").rsplit(".", 1)[1]

FORGED = {
    "alg None capitalised": _unsigned({"alg": "None", "typ": "JWT"}, ALICE),
    "alg NONE": _unsigned({"alg": "NONE", "typ": "JWT"}, ALICE),
    "alg none with a valid signature": _unsigned({"alg": "none"}, ALICE, _GOOD_SIGNATURE),
    "claims swapped under a valid signature": _unsigned(
        {"alg": "HS256", "typ": "JWT"}, {"sub": "bob", "exp": LATER}, _GOOD_SIGNATURE),
    "HS512 with the right secret": _hmac_signed(ALICE, JWT_SECRET, "HS512"),
    "RS256 with an attacker's key": jwt.encode(ALICE, _rsa_private_pem(), algorithm="RS256"),
    "empty secret": _hmac_signed(ALICE, ""),
    "kid and jku pointing elsewhere": jwt.encode(
        ALICE, "attacker-secret-of-enough-length-0123", algorithm="HS256",
        headers={"kid": "../../dev/null", "jku": "https://evil.example/jwks.json"}),
    "not yet valid": jwt.encode({**ALICE, "nbf": LATER - 60}, JWT_SECRET, algorithm="HS256"),
    "sub with a trailing newline": jwt.encode({"sub": "alice\n", "exp": LATER}, JWT_SECRET,
                                              algorithm="HS256"),
    "no signature": jwt.encode(ALICE, JWT_SECRET, algorithm="HS256").rsplit(".", 1)[0] + ".",
}


@pytest.mark.parametrize("token", FORGED.values(), ids=FORGED.keys())
async def test_a_forged_token_is_refused_at_the_handshake(node: Node, token: str) -> None:
    status, body = await refusal(node, headers={"Authorization": f"Bearer {token}"})
    assert (status, body["code"]) == (401, "unauthorized")


@pytest.mark.parametrize("token", FORGED.values(), ids=FORGED.keys())
async def test_a_forged_token_is_refused_by_refresh_and_changes_nothing(
    node: Node, token: str,
) -> None:
    async with wire(node, "alice", token=node.token("alice", ttl=600)) as alice:
        before = [s.exp for s in node._sessions]
        error = await alice.request({"type": "refresh", "token": token})
        after = [s.exp for s in node._sessions]
    assert (error["type"], error["code"]) == ("error", "unauthorized")
    assert after == before


# -- the HTTP API: its key, and only its own port ------------------------------------


async def created_threads(node: Node, user: str) -> int:
    return len(await node.store.threads_of(user))


KEY_CARRIERS = {
    "in the query": ({}, {"api_key": API_KEY}),
    "as a bearer token": ({"Authorization": f"Bearer {API_KEY}"}, {}),
    "as a cookie": ({"Cookie": f"api_key={API_KEY}"}, {}),
    "a prefix of the key": ({"X-API-Key": API_KEY[:-1]}, {}),
    "the key and more": ({"X-API-Key": API_KEY + "x"}, {}),
    "the key in capitals": ({"X-API-Key": API_KEY.upper()}, {}),
    "empty": ({"X-API-Key": ""}, {}),
}


@pytest.mark.parametrize(("headers", "query"), KEY_CARRIERS.values(), ids=KEY_CARRIERS.keys())
async def test_only_the_exact_key_in_its_header_opens_the_api(
    node: Node, headers: dict[str, str], query: dict[str, str],
) -> None:
    async with aiohttp.ClientSession(node.api_url) as http, \
            http.post("/v1/threads", json={"members": ["alice"]}, headers=headers,
                      params=query) as response:
        assert (response.status, (await response.json())["code"]) == (401, "unauthorized")
    assert await created_threads(node, "alice") == 0


PATH_SPELLINGS = ["/v1/threads/", "//v1/threads", "/v1//threads", "/./v1/threads",
                  "/v1/./threads", "/x/../v1/threads", "/v1/%74hreads", "/V1/threads",
                  "/v1/openapi.json/../threads", "/v1/threads?x=/v1/openapi.json"]


@pytest.mark.parametrize("path", PATH_SPELLINGS)
async def test_no_spelling_of_a_path_reaches_the_api_without_the_key(node: Node,
                                                                     path: str) -> None:
    async with aiohttp.ClientSession() as http, \
            http.post(f"{node.api_url}{path}", json={"members": ["alice"]}) as response:
        status = response.status
    assert status in (401, 404, 405)
    assert await created_threads(node, "alice") == 0


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/threads"),
                                              ("POST", "/v1/notify"),
                                              ("GET", "/v1/presence?users=alice"),
                                              ("GET", "/v1/openapi.json"),
                                              ("GET", "/metrics")])
async def test_the_api_is_not_served_on_the_public_port(node: Node, method: str,
                                                        path: str) -> None:
    url = f"http://127.0.0.1:{node.port}{path}"
    async with aiohttp.ClientSession(headers={"X-API-Key": API_KEY}) as http, \
            http.request(method, url, json={"members": ["alice"]}) as response:
        assert response.status in (404, 405)
    assert await created_threads(node, "alice") == 0


async def test_a_node_without_a_key_refuses_every_call(node_factory: NodeFactory) -> None:
    node = await node_factory(api_key="")
    async with aiohttp.ClientSession(node.api_url, headers={"X-API-Key": ""}) as http, \
            http.post("/v1/threads", json={"members": ["alice"]}) as response:
        assert response.status == 401
    assert await created_threads(node, "alice") == 0
