"""Hostile clients on the wire: a client that stops reading, even in the middle of a
replay, is let go within the keepalive window; what its session holds for it, and every
reply it asks for, stays within the connection's byte limit; tokens cannot live for
ever; and a client cannot make threads without end."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import jwt
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from protocol.limits import Limits
from realtime.auth import MAX_TOKEN_LIFETIME
from realtime.feed import MESSAGE_OVERHEAD, replay_page
from realtime.node import Node
from realtime.session import Session
from tests.fixtures.node import API_KEY, JWT_SECRET, NodeFactory
from tests.fixtures.wire import Wire, refusal, wire

BOUND = 10.0
"""Longest wait for anything: it only bounds a failing test."""
LIMIT = 64 * 1024
BODY = "b" * 16_000


@asynccontextmanager
async def never_reading(node: Node, user: str, **query: str) -> AsyncIterator[ClientConnection]:
    """A connection as ``user`` that reads nothing after the handshake."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", node.port))
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    async with connect(f"ws://127.0.0.1:{node.port}/ws?token={node.token(user)}{extra}",
                       sock=sock, max_queue=1, proxy=None, close_timeout=1) as ws:
        yield ws


async def close_code(ws: ClientConnection) -> int | None:
    try:
        async with asyncio.timeout(BOUND):
            while True:
                await ws.recv()
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None


def session_of(node: Node, user: str) -> Session:
    (session,) = [s for s in node._sessions if s.user == user]
    return session


async def backlog(node: Node, members: list[str], count: int) -> str:
    """A group of ``members`` with ``count`` large messages from its first member."""
    group = await node.messaging.create_group(members, None)
    for i in range(count):
        await node.messaging.append_soon(group, members[0], BODY, cid=f"b{i}")
    return group.id


async def test_a_resume_that_stops_reading_is_closed_within_the_keepalive_window(
        node_factory: NodeFactory) -> None:
    node = await node_factory(heartbeat=0.5, limit_queue=LIMIT)
    await backlog(node, ["alice", "sloth"], 200)
    before = set(node._handlers)
    async with never_reading(node, "sloth", cursor="0") as sloth:
        (handler,) = set(node._handlers) - before
        # Replaying, with its queue full: the session waits on a client that never reads.
        await asyncio.wait({handler}, timeout=BOUND)
        assert handler.done(), "a replay that is never read holds its session forever"
        code = await close_code(sloth)
    assert code in (1013, None)  # None: the close frame could not get through either


async def test_live_messages_held_during_a_stalled_replay_count_toward_the_byte_limit(
        node_factory: NodeFactory) -> None:
    node = await node_factory(limit_queue=LIMIT, limit_rate=10_000.0, limit_burst=10_000)
    group = await backlog(node, ["alice", "sloth"], 200)
    async with never_reading(node, "sloth", cursor="0"), wire(node, "alice") as alice:
        session = session_of(node, "sloth")
        sent = 0
        while not session.queue.closing:
            await alice.request({"type": "send", "thread": group, "cid": f"c{sent}",
                                 "body": BODY})
            sent += 1
            assert sent < 100, "held messages grew past the connection's byte limit"
        assert sent * len(BODY) <= 2 * LIMIT


def test_a_replay_page_of_the_largest_messages_fits_in_half_the_byte_limit() -> None:
    for max_queue in (1, 64 * 1024, 1 << 20, 64 << 20):
        limits = Limits(max_queue=max_queue)
        page = replay_page(limits)
        largest = limits.max_body + limits.max_meta + MESSAGE_OVERHEAD
        assert page == 1 or page * largest <= max_queue // 2
        assert 1 <= page <= 500


# -- token lifetimes -------------------------------------------------------------------


def token_with_exp(exp: object, user: str = "alice") -> str:
    return jwt.encode({"sub": user, "exp": exp}, JWT_SECRET, algorithm="HS256")


@pytest.mark.parametrize("exp", [10**30, 2**63, int(time.time()) + MAX_TOKEN_LIFETIME + 3600,
                                 str(int(time.time()) + 600), float(int(time.time()) + 600),
                                 True])
async def test_a_token_past_the_longest_lifetime_or_without_an_integer_exp_is_refused(
        node: Node, exp: object) -> None:
    status, body = await refusal(node, token=token_with_exp(exp))
    assert status == 401 and body["code"] == "unauthorized"


async def test_refresh_with_a_token_past_the_longest_lifetime_changes_nothing(
        node: Node) -> None:
    async with wire(node, "alice") as alice:
        before = session_of(node, "alice").exp
        reply = await alice.request({"type": "refresh", "token": token_with_exp(10**30)})
        assert reply["type"] == "error" and reply["code"] == "unauthorized"
        assert session_of(node, "alice").exp == before
        exp = int(time.time()) + MAX_TOKEN_LIFETIME - 60
        reply = await alice.request({"type": "refresh", "token": token_with_exp(exp)})
        assert reply == {"type": "ack", "id": reply["id"], "exp": exp * 1000}


# -- replies within the byte limit -------------------------------------------------------


async def threads_page(w: Wire, **fields: object) -> tuple[dict[str, Any], int]:
    """A ``threads`` reply and its size on the wire."""
    await w.send({"type": "threads", "id": "t", **fields})
    while True:
        raw = await asyncio.wait_for(w.ws.recv(), BOUND)
        frame = json.loads(raw)
        if frame.get("id") == "t":
            return frame, len(raw.encode() if isinstance(raw, str) else raw)


async def test_threads_come_in_pages_that_say_whether_more_follow(node: Node) -> None:
    for i in range(7):
        await node.messaging.create_group(["alice", f"u{i}"], f"group {i}")
    async with wire(node, "alice") as alice:
        seen: list[str] = []
        page, _ = await threads_page(alice, limit=3)
        while True:
            assert page["type"] == "threads"
            seen += [t["thread"] for t in page["threads"]]
            if not page["more"]:
                break
            assert len(page["threads"]) == 3
            page, _ = await threads_page(alice, limit=3, after=seen[-1])
        assert len(seen) == len(set(seen)) == 7
        everything, _ = await threads_page(alice)  # the default page holds 50
        assert [t["thread"] for t in everything["threads"]] == seen
        assert everything["more"] is False
        unknown, _ = await threads_page(alice, after="dm:nobody:else")
        assert unknown["type"] == "error" and unknown["code"] == "bad_request"


async def test_a_threads_reply_never_passes_the_connections_byte_limit(
        node_factory: NodeFactory) -> None:
    node = await node_factory(limit_queue=LIMIT)
    for i in range(10):
        group = await node.messaging.create_group(["alice", f"u{i}"], None)
        await node.messaging.append_soon(group, f"u{i}", BODY, cid=f"c{i}")
    async with wire(node, "alice") as alice:
        page, size = await threads_page(alice)
        assert size <= LIMIT
        assert page["more"] is True and 0 < len(page["threads"]) < 10
        rest, size = await threads_page(alice, after=page["threads"][-1]["thread"])
        assert size <= LIMIT
        assert len(page["threads"]) + len(rest["threads"]) <= 10


async def test_a_history_reply_never_passes_the_connections_byte_limit(
        node_factory: NodeFactory) -> None:
    node = await node_factory(limit_queue=LIMIT)
    thread = await backlog(node, ["bob", "alice"], 10)
    async with wire(node, "alice") as alice:
        await alice.send({"type": "history", "id": "h", "thread": thread, "limit": 10})
        while True:
            raw = await asyncio.wait_for(alice.ws.recv(), BOUND)
            reply = json.loads(raw)
            if reply.get("id") == "h":
                break
        assert len(raw.encode() if isinstance(raw, str) else raw) <= LIMIT
        seqs = [m["seq"] for m in reply["messages"]]
        # The newest that fit: seq 1 is the group's creation, 2-11 its messages.
        assert reply["more"] is True and seqs == list(range(12 - len(seqs), 12))


async def test_a_frame_larger_than_the_byte_limit_is_not_written_even_to_an_idle_queue(
        node_factory: NodeFactory) -> None:
    node = await node_factory(limit_queue=2048)
    async with wire(node, "alice") as alice, aiohttp.ClientSession(
            node.api_url, headers={"X-API-Key": API_KEY}) as api:
        async with api.post("/v1/notify", json={"users": ["alice"],
                                                "data": {"pad": "x" * 3000}}) as response:
            assert response.status == 200
        assert await alice.closed() == 1013
        assert not [f for f in alice.received if f["type"] == "notification"]


async def test_new_direct_threads_are_rate_limited_per_user(
        node_factory: NodeFactory) -> None:
    node = await node_factory(limit_new_dms=3, limit_rate=1000.0, limit_burst=1000)
    async with wire(node, "mallory") as mallory:
        answers = [await mallory.request({"type": "send", "to": f"victim{i}", "cid": f"c{i}",
                                          "body": "hi"}) for i in range(5)]
        assert [a["type"] for a in answers[:3]] == ["ack"] * 3
        assert [(a["type"], a["code"]) for a in answers[3:]] == [("error", "rate_limited")] * 2
        # An existing DM is not a new one: sending there goes on.
        again = await mallory.request({"type": "send", "to": "victim0", "cid": "again",
                                       "body": "hi"})
        assert again["type"] == "ack"
    async with wire(node, "trudy") as trudy:  # the limit is per user
        ack = await trudy.request({"type": "send", "to": "victim9", "cid": "t", "body": "hi"})
        assert ack["type"] == "ack"


# -- cursors ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["sync", "handshake"])
async def test_a_cursor_beyond_now_is_taken_as_now(node: Node, how: str) -> None:
    async with wire(node, "alice") as alice:
        now = alice.welcome["cursor"]
    beyond = str(10**15)
    if how == "sync":
        async with wire(node, "alice") as alice:
            synced = await alice.request({"type": "sync", "cursor": beyond})
    else:
        async with wire(node, "alice", query={"cursor": beyond}) as alice:
            synced = await alice.recv_until("synced")
    assert synced["type"] == "synced" and synced["cursor"] == now
    # And from there on nothing is skipped: a message sent now arrives.
    async with wire(node, "alice", query={"cursor": synced["cursor"]}) as alice, \
            wire(node, "bob") as bob:
        await alice.recv_until("synced")
        ack = await bob.request({"type": "send", "to": "alice", "cid": "c", "body": "hi"})
        message = await alice.recv_until("message")
        assert message["seq"] == ack["seq"]


async def test_cursors_are_sealed_and_reveal_no_message_count(node: Node) -> None:
    group = await node.messaging.create_group(["alice", "bob"], None)
    for i in range(25):
        await node.messaging.post(group, "bob", f"m{i}")
    head = await node.store.head()
    async with wire(node, "alice") as alice:
        cursors = [alice.welcome["cursor"]]
        ack = await alice.request({"type": "send", "thread": group.id, "cid": "c",
                                   "body": "x"})
        async with wire(node, "alice") as laptop:
            cursors.append(laptop.welcome["cursor"])
        synced = await alice.request({"type": "sync", "cursor": cursors[0]})
        cursors.append(synced["cursor"])
    for cursor in cursors:
        assert cursor.startswith("c.")
        assert str(head) not in cursor and str(head + 1) not in cursor
    assert ack["type"] == "ack"


@pytest.mark.parametrize("forged", ["c." + "A" * 40, "bad cursor"])
async def test_a_cursor_not_sealed_here_is_refused(node: Node, forged: str) -> None:
    async with wire(node, "alice") as alice:
        answer = await alice.request({"type": "sync", "cursor": forged})
    assert answer["type"] == "error" and answer["code"] == "bad_request"
    status, _ = await refusal(node, token=node.token("alice"), cursor=forged)
    assert status == 400


async def test_a_cursor_sealed_by_another_cluster_is_refused(node_factory: NodeFactory) -> None:
    ours = await node_factory()
    theirs = await node_factory(cursor_secret="another cluster's secret")
    async with wire(theirs, "alice") as alice:
        foreign = alice.welcome["cursor"]
    async with wire(ours, "alice") as alice:
        answer = await alice.request({"type": "sync", "cursor": foreign})
    assert answer["code"] == "bad_request"


async def test_plain_cursors_of_earlier_versions_work_unless_turned_off(
        node_factory: NodeFactory) -> None:
    node = await node_factory()
    group = await node.messaging.create_group(["alice", "bob"], None)
    await node.messaging.post(group, "bob", "before the upgrade")
    async with wire(node, "alice", query={"cursor": "0"}) as alice:
        message = await alice.recv_until("message")
        assert message["body"] == "before the upgrade"
    strict = await node_factory(legacy_cursors=False)
    status, body = await refusal(strict, token=strict.token("alice"), cursor="0")
    assert status == 400 and body["code"] == "bad_request"
