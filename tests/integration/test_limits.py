"""Per-connection limits under load: the rate limit and the bounded send queue."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from realtime.node import Node
from realtime.session import ABUSE_STRIKES, Session
from tests.fixtures.node import NodeFactory
from tests.fixtures.wire import Wire, wire

RATE, BURST = 1.0, 5


async def flood(w: Wire, count: int, *, prefix: str = "c") -> tuple[list[dict], list[dict]]:
    """Send ``count`` sends at once; return their acks and their errors."""
    for i in range(count):
        await w.send({"type": "send", "to": "bob", "cid": f"{prefix}{i}", "body": f"{i}",
                      "id": i})
    # Errors come at once, acks after their commit: answers arrive out of order.
    answers: dict[int, dict] = {}
    while len(answers) < count:
        frame = await w.recv()
        if frame.get("id") in range(count):
            answers[frame["id"]] = frame
    return ([a for a in answers.values() if a["type"] == "ack"],
            [a for a in answers.values() if a["type"] == "error"])


async def until_accepted(w: Wire, frame: dict) -> dict:
    """Resend ``frame`` until it is not refused for rate (bounded: the bucket refills)."""
    async with asyncio.timeout(5 / RATE):
        while (answer := await w.request(frame))["type"] == "error":
            assert answer["code"] == "rate_limited"
            await asyncio.sleep(0.1 / RATE)
    return answer


# -- the rate limit ------------------------------------------------------------------


async def test_frames_past_the_burst_are_refused_as_rate_limited(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(limit_rate=RATE, limit_burst=BURST)
    async with wire(node, "alice") as alice:
        acks, errors = await flood(alice, 2 * BURST)
    # The bucket refills one frame per second: the frames sent at once beyond the
    # burst are refused (one may slip through if the machine pauses for a second).
    assert BURST <= len(acks) <= BURST + 1
    assert {e["code"] for e in errors} == {"rate_limited"}
    assert all(isinstance(e["id"], int) for e in errors)


async def test_a_rate_limited_connection_stays_up(node_factory: NodeFactory) -> None:
    node = await node_factory(limit_rate=RATE, limit_burst=BURST)
    async with wire(node, "alice") as alice:
        await flood(alice, 2 * BURST)
        assert (await until_accepted(alice, {"type": "ping"}))["type"] == "pong"


async def test_refused_frames_change_nothing(node_factory: NodeFactory) -> None:
    node = await node_factory(limit_rate=RATE, limit_burst=BURST)
    async with wire(node, "alice") as alice, wire(node, "bob") as bob:
        acks, errors = await flood(alice, 2 * BURST)
        received = await bob.messages(len(acks))
        page = await bob.request({"type": "history", "thread": "dm:alice:bob"})
        await bob.request({"type": "ping"})  # a refused frame's message would come first
    accepted = sorted(str(a["id"]) for a in acks)
    assert sorted(m["body"] for m in page["messages"]) == accepted
    assert sorted(m["body"] for m in received) == accepted
    assert [f["type"] for f in bob.received].count("message") == len(acks)
    assert not {str(e["id"]) for e in errors} & set(accepted)


async def test_sending_works_again_once_the_bucket_refills(node_factory: NodeFactory) -> None:
    node = await node_factory(limit_rate=RATE, limit_burst=BURST)
    async with wire(node, "alice") as alice:
        acks, _ = await flood(alice, 2 * BURST)
        ack = await until_accepted(alice, {"type": "send", "to": "bob", "cid": "later",
                                           "body": "later"})
    assert ack["type"] == "ack" and ack["seq"] == len(acks) + 1


async def test_the_rate_limit_is_per_connection(node_factory: NodeFactory) -> None:
    node = await node_factory(limit_rate=RATE, limit_burst=BURST)
    async with wire(node, "alice") as phone, wire(node, "alice") as laptop:
        await flood(phone, 2 * BURST)
        answer = await laptop.request({"type": "ping"})
    assert answer["type"] == "pong"


async def test_undecodable_frames_count_against_the_rate_limit(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(limit_rate=RATE, limit_burst=BURST)
    async with wire(node, "alice") as alice:
        for _ in range(2 * BURST):
            await alice.send("{not json")
        codes = [(await alice.recv_until("error"))["code"] for _ in range(2 * BURST)]
    assert codes.count("bad_request") <= BURST + 1
    assert codes.count("rate_limited") >= BURST - 1


async def test_flooding_with_undecodable_frames_closes_with_1008(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(limit_rate=RATE, limit_burst=1)
    async with wire(node, "alice") as alice:
        for _ in range(ABUSE_STRIKES + 5):
            await alice.send("{not json")
        assert await alice.closed() == 1008


async def test_flooding_on_and_on_closes_with_1008(node_factory: NodeFactory) -> None:
    node = await node_factory(limit_rate=RATE, limit_burst=1)
    async with wire(node, "alice") as alice:
        for _ in range(ABUSE_STRIKES + 5):
            await alice.send({"type": "ping"})
        assert await alice.closed() == 1008


# -- a client that never reads -------------------------------------------------------


@asynccontextmanager
async def never_reading(node: Node, user: str) -> AsyncIterator[ClientConnection]:
    """A connection as ``user`` that reads nothing after the handshake: a small kernel
    receive buffer, and the client library stops reading after one buffered frame."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", node.port))
    async with connect(f"ws://127.0.0.1:{node.port}/ws?token={node.token(user)}", sock=sock,
                       max_queue=1, proxy=None, close_timeout=1) as ws:
        yield ws


def session_of(node: Node, user: str) -> Session:
    (session,) = [s for s in node._sessions if s.user == user]
    return session


async def test_a_client_that_never_reads_is_disconnected_and_others_are_served(
    node_factory: NodeFactory,
) -> None:
    limit = 64 * 1024
    node = await node_factory(limit_queue=limit, limit_rate=10_000.0, limit_burst=10_000)
    group = await node.messaging.create_group(["alice", "carol", "sloth"], None)
    body = "b" * 16_000
    before = set(node._handlers)
    async with never_reading(node, "sloth") as sloth:
        (handler,) = set(node._handlers) - before
        session = session_of(node, "sloth")
        async with wire(node, "alice") as alice, wire(node, "carol") as carol:
            largest, sent = 0, 0
            # Until the node gives up on sloth, every send is acked and reaches carol
            # at once, however full sloth's queue is.
            while not session.queue.closing:
                await alice.request({"type": "send", "thread": group.id, "cid": f"c{sent}",
                                     "body": body})
                assert (await carol.recv_until("message"))["seq"] == sent + 2  # 1: creation
                sent += 1
                largest = max(largest, session.queue.size)
                assert sent < 2000, "sloth was never disconnected"
            for i in range(10):  # and after
                ack = await alice.request({"type": "send", "thread": group.id,
                                           "cid": f"d{i}", "body": "x"})
                assert (await carol.recv_until("message"))["seq"] == ack["seq"]
            # The node lets go of sloth although it never reads the close frame.
            await asyncio.wait({handler}, timeout=10)
            assert handler.done()
        code = await drain_until_closed(sloth)
    assert largest <= limit
    # With sloth's receive buffer full, the close frame cannot get through: the node
    # cuts the TCP connection, which the client sees as a close without a code.
    assert code in (1013, None)


async def drain_until_closed(ws: ClientConnection) -> int | None:
    try:
        async with asyncio.timeout(10):
            while True:
                await ws.recv()
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None
