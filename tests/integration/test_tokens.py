"""Token expiry on open connections, ``refresh``, and the application-level ping."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

import realtime.node
from realtime.auth import mint_token
from realtime.node import Node
from tests.fixtures.node import JWT_SECRET, NodeFactory
from tests.fixtures.wire import Wire, wire

SHORT = 2
"""Seconds a short-lived token lives (JWT ``exp`` is whole seconds: 1 to 2 s from now)."""


@pytest.fixture
async def node(node_factory: NodeFactory, monkeypatch: pytest.MonkeyPatch) -> Node:
    """A node that looks for expired tokens every 50 ms."""
    monkeypatch.setattr(realtime.node, "EXPIRY_SWEEP", 0.05)
    return await node_factory()


@dataclass
class Sentinel:
    """A connection whose token expires at ``exp``, with the tokens of :meth:`token`:
    once the node closes it, the sweep has run after their expiry."""

    wire: Wire
    exp: int

    def token(self, user: str) -> str:
        """A token for ``user`` expiring exactly with the sentinel's."""
        return mint_token(JWT_SECRET, user, ttl=SHORT, now=self.exp - SHORT)

    async def expired(self) -> None:
        assert await self.wire.closed() == 1008


@pytest.fixture
async def sentinel(node: Node) -> AsyncIterator[Sentinel]:
    token = node.token("sentinel", ttl=SHORT)
    async with wire(node, "sentinel", token=token) as w:
        yield Sentinel(w, node.verifier.verify(token).exp)


async def test_an_expired_token_closes_the_connection_with_1008(node: Node) -> None:
    token = node.token("alice", ttl=SHORT)
    async with wire(node, "alice", token=token) as alice:
        exp = node.verifier.verify(token).exp
        code = await alice.closed()
    assert code == 1008
    assert time.time() >= exp  # not before its time


async def test_a_refresh_before_expiry_keeps_the_connection_open(
    node: Node, sentinel: Sentinel,
) -> None:
    async with wire(node, "alice", token=sentinel.token("alice")) as alice:
        ack = await alice.request({"type": "refresh", "token": node.token("alice")})
        await sentinel.expired()
        pong = await alice.request({"type": "ping"})
    assert ack["type"] == "ack" and pong["type"] == "pong"


async def test_a_refresh_is_acked_with_the_new_exp_in_epoch_ms(node: Node) -> None:
    fresh = node.token("alice", ttl=600)
    async with wire(node, "alice", token=node.token("alice", ttl=SHORT)) as alice:
        ack = await alice.request({"type": "refresh", "token": fresh, "id": "r1"})
    assert ack == {"type": "ack", "id": "r1", "exp": node.verifier.verify(fresh).exp * 1000}


async def test_a_refresh_with_a_bad_token_is_unauthorized_and_changes_nothing(
    node: Node,
) -> None:
    forged = mint_token("another-secret-entirely-0123456789", "alice", ttl=600)
    async with wire(node, "alice", token=node.token("alice", ttl=SHORT)) as alice:
        error = await alice.request({"type": "refresh", "token": forged, "id": 4})
        code = await alice.closed()  # at the old expiry
    assert (error["type"], error["code"], error["id"]) == ("error", "unauthorized", 4)
    assert code == 1008


async def test_a_refresh_with_an_expired_token_is_unauthorized(node: Node) -> None:
    stale = mint_token(JWT_SECRET, "alice", ttl=60, now=time.time() - 3600)
    async with wire(node, "alice") as alice:
        error = await alice.request({"type": "refresh", "token": stale})
    assert error["code"] == "unauthorized"


async def test_a_refresh_with_another_users_token_is_unauthorized_and_changes_nothing(
    node: Node,
) -> None:
    async with wire(node, "alice", token=node.token("alice", ttl=SHORT)) as alice:
        error = await alice.request({"type": "refresh", "token": node.token("mallory")})
        code = await alice.closed()  # at the old expiry
        assert alice.welcome["user"] == "alice"
    assert error["code"] == "unauthorized" and code == 1008


async def test_a_refresh_with_garbage_is_unauthorized(node: Node) -> None:
    async with wire(node, "alice") as alice:
        error = await alice.request({"type": "refresh", "token": "garbage"})
        pong = await alice.request({"type": "ping"})
    assert error["code"] == "unauthorized" and pong["type"] == "pong"


@pytest.mark.parametrize("rid", [1, "p-1"])
async def test_ping_is_answered_by_pong_with_the_id(node: Node, rid: int | str) -> None:
    async with wire(node, "alice") as alice:
        await alice.send({"type": "ping", "id": rid})
        assert await alice.recv() == {"type": "pong", "id": rid}


async def test_ping_without_id_is_answered_by_pong(node: Node) -> None:
    async with wire(node, "alice") as alice:
        await alice.send({"type": "ping"})
        assert await alice.recv() == {"type": "pong"}
