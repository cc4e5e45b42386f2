"""The send pipeline of the messaging service: append -> outcome -> publish -> push, then
one report to the sender, and the sends in flight that a connection awaits before closing."""

from __future__ import annotations

import asyncio

from protocol.errors import ErrorCode
from protocol.frames import Message
from realtime.errors import RequestError
from realtime.node import Node
from realtime.services.in_flight import InFlight
from realtime.store.base import Appended
from realtime_client.client import Client


async def test_a_send_is_reported_once_as_appended_after_its_publication(node: Node) -> None:
    thread = await node.messaging.thread_for("ann", to="bob")
    outcomes: list[Appended | Exception | None] = []
    in_flight = InFlight()
    async with Client(node.ws_url, node.token("bob")) as bob:
        node.messaging.send_soon(thread, "ann", "hi", meta=None, cid="c1", reply_to=None,
                                 attachments=None, origin="ann-session",
                                 in_flight=in_flight, done=outcomes.append)
        assert len(in_flight) == 1
        await in_flight.drain()
        (appended,) = outcomes
        assert isinstance(appended, Appended) and appended.message.body == "hi"
        assert (await bob.next_event(Message)).body == "hi"


async def test_a_send_to_a_thread_the_sender_left_is_reported_forbidden(node: Node) -> None:
    group = await node.messaging.create_group(["ann", "bob"], None)
    await node.store.change_members(group.id, [], ["ann"])  # behind the cache's back
    outcomes: list[Appended | Exception | None] = []
    in_flight = InFlight()
    node.messaging.send_soon(group, "ann", "hi", meta=None, cid="c1", reply_to=None,
                             attachments=None, origin="s", in_flight=in_flight,
                             done=outcomes.append)
    await in_flight.drain()
    (error,) = outcomes
    assert isinstance(error, RequestError) and error.code is ErrorCode.FORBIDDEN


async def test_a_resend_is_reported_with_the_original(node: Node) -> None:
    thread = await node.messaging.thread_for("ann", to="bob")
    outcomes: list[Appended | Exception | None] = []
    in_flight = InFlight()
    for body in ("first", "again"):
        node.messaging.send_soon(thread, "ann", body, meta=None, cid="same", reply_to=None,
                                 attachments=None, origin="s", in_flight=in_flight,
                                 done=outcomes.append)
        await in_flight.drain()
    first, again = outcomes
    assert isinstance(first, Appended) and isinstance(again, Appended)
    assert again.duplicate and again.message.seq == first.message.seq


async def test_room_waits_while_the_limit_is_in_flight() -> None:
    in_flight = InFlight(limit=1)
    pending: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    in_flight.add(pending)
    waiting = asyncio.ensure_future(in_flight.room())
    await asyncio.sleep(0)
    assert not waiting.done()
    pending.set_result(None)
    await waiting
    assert len(in_flight) == 0


async def test_drain_waits_for_the_work_a_finished_one_started() -> None:
    in_flight = InFlight()
    pending: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    finished = asyncio.Event()

    async def rest() -> None:
        finished.set()

    def handed_over(_: asyncio.Future[None]) -> None:
        in_flight.start(rest())

    pending.add_done_callback(handed_over)
    in_flight.add(pending)
    pending.set_result(None)
    await in_flight.drain()
    assert finished.is_set()
