"""Hostile clients on the wire: a client that stops reading, even in the middle of a
replay, is let go within the keepalive window, and what its session holds for it stays
within the connection's byte limit."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import jwt
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from protocol.limits import Limits
from realtime.auth import MAX_TOKEN_LIFETIME
from realtime.feed import MESSAGE_OVERHEAD, replay_page
from realtime.node import Node
from realtime.session import Session
from tests.fixtures.node import JWT_SECRET, NodeFactory
from tests.fixtures.wire import refusal, wire

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
