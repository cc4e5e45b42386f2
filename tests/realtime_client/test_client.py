"""The Python client against a real node: requests, events, cursors, reconnection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from protocol.frames import Message, Pong, Synced, Update, Welcome
from realtime.node import Node
from realtime_client import AuthenticationError, Client, ClientClosed, ClientError
from tests.fixtures.node import NodeFactory

ClientFactory = Callable[..., AbstractAsyncContextManager[Client]]


@pytest.fixture
def client_for(node: Node) -> ClientFactory:
    """Open a client for a user on the test node; closed when the block ends."""

    @asynccontextmanager
    async def open_client(user: str, **options: Any) -> AsyncIterator[Client]:
        options.setdefault("backoff", (0.01, 0.1))
        async with Client(node.ws_url, node.token(user), **options) as client:
            yield client

    return open_client


def _drop(client: Client) -> None:
    """Cut the client's TCP connection without a closing handshake (close code 1006)."""
    ws = client._ws
    assert ws is not None
    ws.transport.abort()


async def _bodies(client: Client, n: int) -> list[str]:
    return [(await client.next_event(Message)).body for _ in range(n)]


async def test_connecting_yields_a_welcome_for_the_token_user(client_for: ClientFactory) -> None:
    async with client_for("alice") as alice:
        assert alice.welcome is not None
        assert alice.welcome.user == "alice"
        assert alice.cursor == alice.welcome.cursor


async def test_a_bad_token_is_refused_with_authentication_error(node: Node) -> None:
    with pytest.raises(AuthenticationError):
        async with Client(node.ws_url, "not-a-token"):
            pass


@pytest.mark.parametrize("subprotocol", ["rt.v1.json", "rt.v1.msgpack"])
async def test_a_request_gets_its_reply(client_for: ClientFactory, subprotocol: str) -> None:
    async with client_for("alice", subprotocol=subprotocol) as alice:
        assert isinstance(await alice.ping(), Pong)


async def test_a_sent_message_is_acked_and_reaches_the_recipient(
    client_for: ClientFactory,
) -> None:
    async with client_for("alice") as alice, client_for("bob") as bob:
        ack = await alice.send("hello", to="bob")
        message = await bob.next_event(Message)
    assert (message.thread, message.seq, message.body) == (ack.thread, ack.seq, "hello")
    assert message.from_ == "alice"
    assert bob.cursor == message.cursor


async def test_a_send_retried_with_the_same_cid_returns_the_original(
    client_for: ClientFactory,
) -> None:
    async with client_for("alice") as alice:
        first = await alice.send("once", to="bob", cid="retry-1")
        again = await alice.send("once", to="bob", cid="retry-1")
    assert (again.thread, again.seq, again.msg) == (first.thread, first.seq, first.msg)


async def test_an_error_reply_raises_client_error_with_its_code(
    client_for: ClientFactory,
) -> None:
    async with client_for("alice") as alice, client_for("mallory") as mallory:
        ack = await alice.send("private", to="bob")
        with pytest.raises(ClientError) as caught:
            await mallory.history(ack.thread)
        assert await mallory.ping()  # the connection survives the error
    assert caught.value.code == "forbidden"


async def test_a_client_resuming_from_a_cursor_gets_what_it_missed_exactly_once(
    client_for: ClientFactory,
) -> None:
    async with client_for("alice") as alice:
        async with client_for("bob") as bob:
            await alice.send("seen", to="bob")
            await bob.next_event(Message)
            cursor = bob.cursor
        for body in ("m1", "m2", "m3"):
            await alice.send(body, to="bob")
        async with client_for("bob", cursor=cursor) as bob:
            assert await _bodies(bob, 3) == ["m1", "m2", "m3"]
            await bob.next_event(Synced)
            await alice.send("live", to="bob")
            assert await _bodies(bob, 1) == ["live"]


async def test_a_dropped_client_reconnects_and_misses_nothing(client_for: ClientFactory) -> None:
    async with client_for("alice") as alice, client_for("bob") as bob:
        await alice.send("before", to="bob")
        assert await _bodies(bob, 1) == ["before"]
        _drop(bob)
        # Sent while bob is away or reconnecting: each arrives once, by replay or live.
        for body in ("m1", "m2", "m3"):
            await alice.send(body, to="bob")
        await bob.next_event(Welcome)
        assert bob.close_code == 1006
        await alice.send("after", to="bob")
        assert await _bodies(bob, 4) == ["m1", "m2", "m3", "after"]


async def test_sync_returns_synced_with_the_current_cursor(client_for: ClientFactory) -> None:
    async with client_for("alice") as alice, client_for("bob") as bob:
        await alice.send("one", to="bob")
        await bob.next_event(Message)
        synced = await bob.sync()
    assert bob.cursor == synced.cursor


async def test_requests_after_close_raise_client_closed(client_for: ClientFactory) -> None:
    async with client_for("alice") as alice:
        pass
    with pytest.raises(ClientClosed):
        await alice.ping()


async def test_events_end_after_close(client_for: ClientFactory) -> None:
    async with client_for("alice") as alice:
        pass
    assert [frame async for frame in alice.events()] == [alice.welcome]


async def test_a_client_follows_a_node_restart_and_misses_nothing(
    node_factory: NodeFactory, tmp_path: Path
) -> None:
    first = await node_factory(data_dir=tmp_path / "data")
    port = first.port
    alice = Client(first.ws_url, first.token("alice"), backoff=(0.01, 0.1))
    bob = Client(first.ws_url, first.token("bob"), backoff=(0.01, 0.1))
    async with alice, bob:
        await alice.next_event(Welcome)
        await alice.send("before", to="bob")
        assert await _bodies(bob, 1) == ["before"]
        await first.drain()
        await node_factory(data_dir=tmp_path / "data", port=port)
        await alice.next_event(Welcome)
        # Sent while bob may still be reconnecting: each arrives once, by replay or live.
        for body in ("m1", "m2", "m3"):
            await alice.send(body, to="bob")
        await bob.next_event(Welcome)
        assert bob.close_code == 1012
        await alice.send("after", to="bob")
        assert await _bodies(bob, 4) == ["m1", "m2", "m3", "after"]



async def test_groups_blocks_and_mutes_through_the_client(client_for: ClientFactory) -> None:
    async with client_for("ann") as ann, client_for("ben") as ben:
        made = await ann.create(["ben"], title="trip")
        assert made.thread is not None
        created = await ben.next_event(Update, timeout=5)
        assert (created.kind, created.added, created.admins) == ("members", ["ann", "ben"],
                                                                 ["ann"])
        assert (await ann.members(made.thread, add=["cat"])).members == ["ann", "ben", "cat"]
        await ann.rename(made.thread, "trip 2")
        renamed = await ben.next_event(Update, timeout=5)
        while renamed.kind != "title":
            renamed = await ben.next_event(Update, timeout=5)
        assert renamed.title == "trip 2"
        await ben.mute(made.thread, until=4_000_000_000_000)
        listed = {t.thread: t for t in (await ben.threads()).threads}
        assert listed[made.thread].muted == 4_000_000_000_000
        await ben.leave(made.thread)
        await ann.block("ben")
        with pytest.raises(ClientError) as refused:
            await ben.send("hi", to="ann")
        assert refused.value.code == "forbidden"
