"""The handshake: token checks, the session limit, the welcome, and both subprotocols."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import jwt
import msgspec
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from realtime.node import Node
from tests.fixtures.node import JWT_SECRET, NodeFactory
from tests.fixtures.wire import JSON, MSGPACK, refusal, wire


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unsigned_token(claims: dict[str, object]) -> str:
    """A token with ``alg: none`` and no signature."""
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def signed(claims: dict[str, object], secret: str = JWT_SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


LATER = int(time.time()) + 3600

BAD_TOKENS = {
    "bad signature": signed({"sub": "alice", "exp": LATER}, "another-secret-entirely-0123456789"),
    "expired": signed({"sub": "alice", "exp": int(time.time()) - 60}),
    "alg none": unsigned_token({"sub": "alice", "exp": LATER}),
    "no exp": signed({"sub": "alice"}),
    "no sub": signed({"exp": LATER}),
    "sub not a user id": signed({"sub": "dm:alice", "exp": LATER}),
    "empty sub": signed({"sub": "", "exp": LATER}),
    "sub not a string": signed({"sub": 42, "exp": LATER}),
    "not a jwt": "not-a-token",
}


# -- refused handshakes --------------------------------------------------------------


async def test_a_handshake_without_token_is_refused_with_401(node: Node) -> None:
    status, body = await refusal(node)
    assert status == 401 and body["code"] == "unauthorized" and body["message"]


@pytest.mark.parametrize("token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
async def test_a_bad_token_in_the_header_is_refused_with_401(node: Node, token: str) -> None:
    status, body = await refusal(node, headers=bearer(token))
    assert status == 401 and body["code"] == "unauthorized" and body["message"]


@pytest.mark.parametrize("token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
async def test_a_bad_token_in_the_query_is_refused_with_401(node: Node, token: str) -> None:
    status, body = await refusal(node, token=token)
    assert status == 401 and body["code"] == "unauthorized"


async def test_a_refusal_does_not_say_which_check_failed(node: Node) -> None:
    _, forged = await refusal(node, headers=bearer(BAD_TOKENS["bad signature"]))
    _, garbage = await refusal(node, headers=bearer(BAD_TOKENS["not a jwt"]))
    assert forged["message"] == garbage["message"]


async def test_a_refused_handshake_creates_no_session(node: Node) -> None:
    await refusal(node, headers=bearer(BAD_TOKENS["expired"]))
    assert node.connection_count == 0


# -- accepted handshakes -------------------------------------------------------------


async def test_the_token_is_accepted_in_the_authorization_header(node: Node) -> None:
    async with wire(node, "alice") as w:
        assert w.welcome["user"] == "alice"


async def test_the_token_is_accepted_in_the_query(node: Node) -> None:
    async with wire(node, "alice", in_query=True) as w:
        assert w.welcome["user"] == "alice"


async def test_the_authorization_header_wins_over_the_query(node: Node) -> None:
    async with wire(node, "alice", query={"token": node.token("mallory")}) as w:
        assert w.welcome["user"] == "alice"


async def test_the_welcome_names_user_session_node_cursor_and_limits(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(limit_frame=32768, limit_body=8000, limit_rate=7.0,
                              limit_burst=11)
    async with wire(node, "alice") as a, wire(node, "alice") as b:
        welcome, other = a.welcome, b.welcome
    assert welcome["user"] == "alice" and welcome["node"] == node.id
    assert welcome["session"] and welcome["session"] != other["session"]
    assert isinstance(welcome["cursor"], str) and welcome["cursor"]
    assert {k: welcome["limits"][k] for k in ("max_frame", "max_body", "rate", "burst")} == {
        "max_frame": 32768, "max_body": 8000, "rate": 7.0, "burst": 11}


# -- the session limit ---------------------------------------------------------------


async def test_past_the_session_limit_the_handshake_is_refused_with_429(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(limit_sessions=2)
    async with wire(node, "alice"), wire(node, "alice"):
        status, body = await refusal(node, headers=bearer(node.token("alice")))
    assert status == 429 and body["code"] == "rate_limited" and body["message"]


async def test_the_session_limit_is_per_user(node_factory: NodeFactory) -> None:
    node = await node_factory(limit_sessions=2)
    async with wire(node, "alice"), wire(node, "alice"), wire(node, "bob") as bob:
        assert bob.welcome["user"] == "bob"


async def test_a_closed_session_frees_its_place(node_factory: NodeFactory) -> None:
    node = await node_factory(limit_sessions=2)
    async with wire(node, "alice"):
        before = set(node._handlers)
        async with wire(node, "alice"):
            (handler,) = set(node._handlers) - before
        await asyncio.wait({handler}, timeout=5)  # the node has let go of the session
        async with wire(node, "alice") as again:
            assert again.welcome["user"] == "alice"


# -- subprotocols --------------------------------------------------------------------


async def test_rt_v1_json_speaks_text_frames(node: Node) -> None:
    async with wire(node, "alice", subprotocol=JSON) as w:
        assert w.ws.subprotocol == JSON
        await w.send({"type": "ping", "id": 1})
        raw = await w.ws.recv()
    assert isinstance(raw, str) and json.loads(raw) == {"type": "pong", "id": 1}


async def test_rt_v1_msgpack_speaks_binary_frames(node: Node) -> None:
    async with wire(node, "alice", subprotocol=MSGPACK) as w:
        assert w.ws.subprotocol == MSGPACK
        await w.send(msgspec.msgpack.encode({"type": "ping", "id": 1}))
        raw = await w.ws.recv()
    assert isinstance(raw, bytes) and msgspec.msgpack.decode(raw) == {"type": "pong", "id": 1}


async def test_with_no_subprotocol_offered_the_node_speaks_json(node: Node) -> None:
    async with connect(f"{node.ws_url}?token={node.token('alice')}", proxy=None) as ws:
        assert ws.subprotocol is None
        raw = await ws.recv()
    assert isinstance(raw, str) and json.loads(raw)["type"] == "welcome"


async def test_the_first_subprotocol_the_client_offers_is_chosen(node: Node) -> None:
    async with connect(f"{node.ws_url}?token={node.token('alice')}", proxy=None,
                       subprotocols=[Subprotocol(MSGPACK), Subprotocol(JSON)]) as ws:
        assert ws.subprotocol == MSGPACK
        assert isinstance(await ws.recv(), bytes)


async def test_json_and_msgpack_clients_talk_to_each_other(node: Node) -> None:
    async with wire(node, "alice", subprotocol=MSGPACK) as alice, \
            wire(node, "bob", subprotocol=JSON) as bob:
        ack = await alice.request({"type": "send", "to": "bob", "cid": "c1", "body": "héllo",
                                   "meta": {"n": 1, "f": 1.5, "l": [True, None]}})
        m = await bob.recv_until("message")
        reply = await bob.request({"type": "send", "to": "alice", "cid": "c2", "body": "ok"})
        back = await alice.recv_until("message")
    assert ack["seq"] == 1 and reply["seq"] == 2
    assert (m["body"], m["meta"]) == ("héllo", {"n": 1, "f": 1.5, "l": [True, None]})
    assert (back["from"], back["body"]) == ("bob", "ok")


async def test_concurrent_handshakes_cannot_slip_past_the_session_limit(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(limit_sessions=2)
    token = node.token("alice")
    refused: list[int] = []
    settled = asyncio.Event()  # every attempt but the two that may pass was refused

    async def attempt() -> int:
        try:
            async with connect(f"{node.ws_url}?token={token}", proxy=None) as ws:
                await ws.recv()  # welcome
                async with asyncio.timeout(10):
                    await settled.wait()  # hold the session meanwhile
                return 101
        except InvalidStatus as exc:
            refused.append(exc.response.status_code)
            if len(refused) == 8:
                settled.set()
            return exc.response.status_code

    statuses = await asyncio.gather(*(attempt() for _ in range(10)))
    assert sorted(statuses) == [101, 101] + [429] * 8
