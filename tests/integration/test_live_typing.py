"""Typing indicators over real sockets: relayed, throttled, ended, never stored."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from protocol.frames import Message, Typing, TypingEvent
from realtime.node import Node
from realtime_client import Client, ClientError
from tests.fixtures.node import API_KEY


@pytest.fixture
async def pair(node: Node) -> AsyncIterator[tuple[Client, Client, str]]:
    async with Client(node.ws_url, node.token("ann")) as ann, \
            Client(node.ws_url, node.token("bob")) as bob:
        ack = await ann.send("hello", to="bob")
        await bob.next_event(Message)
        yield ann, bob, ack.thread


async def events_until_message(client: Client) -> list[object]:
    """Every event up to (and including) the next message: a sentinel instead of a sleep."""
    seen: list[object] = []
    while not isinstance(frame := await client.next_event(), Message):
        seen.append(frame)
    return [*seen, frame]


async def test_typing_reaches_the_other_member(pair: tuple[Client, Client, str]) -> None:
    ann, bob, thread = pair
    await ann.typing(thread, True)
    event = await bob.next_event(TypingEvent)
    assert (event.thread, event.user, event.on) == (thread, "ann", True)


async def test_a_typing_storm_reaches_others_once_per_window(
    pair: tuple[Client, Client, str],
) -> None:
    ann, bob, thread = pair
    for _ in range(50):
        await ann.typing(thread, True)
    await ann.send("done typing", thread=thread)
    seen = await events_until_message(bob)
    ons = [e for e in seen if isinstance(e, TypingEvent) and e.on]
    assert len(ons) == 1


async def test_sending_a_message_ends_typing(pair: tuple[Client, Client, str]) -> None:
    ann, bob, thread = pair
    await ann.typing(thread, True)
    await bob.next_event(TypingEvent)
    await ann.send("sent", thread=thread)
    off = await bob.next_event(TypingEvent)
    assert off.on is False


async def test_typing_expires_without_refresh(node: Node,
                                              pair: tuple[Client, Client, str]) -> None:
    ann, bob, thread = pair
    node.services.typing.tracker.expiry = 0.2
    await ann.typing(thread, True)
    assert (await bob.next_event(TypingEvent)).on is True
    assert (await bob.next_event(TypingEvent, timeout=5)).on is False


async def test_typing_is_never_replayed(node: Node, pair: tuple[Client, Client, str]) -> None:
    ann, bob, thread = pair
    cursor = bob.cursor
    await ann.typing(thread, True)
    await ann.send("after typing", thread=thread)
    async with Client(node.ws_url, node.token("bob"), cursor=cursor) as again:
        seen = await events_until_message(again)
    assert not any(isinstance(e, TypingEvent) for e in seen)


async def test_typing_in_a_thread_of_others_is_forbidden(node: Node) -> None:
    async with Client(node.ws_url, node.token("eve")) as eve:
        with pytest.raises(ClientError) as refused:
            # A typing frame with an id: its only possible reply is an error.
            await eve.request(Typing(thread="dm:ann:bob", on=True))
    assert refused.value.code == "forbidden"


async def test_a_message_posted_over_http_ends_its_senders_typing(
    node: Node, pair: tuple[Client, Client, str],
) -> None:
    ann, bob, thread = pair
    await ann.typing(thread, True)
    await bob.next_event(TypingEvent)
    async with aiohttp.ClientSession(headers={"X-API-Key": API_KEY}) as http:
        async with http.post(f"{node.api_url}/v1/threads/{thread}/messages",
                             json={"from": "ann", "body": "posted"}) as response:
            assert response.status == 200
    off = await bob.next_event(TypingEvent)
    assert (off.user, off.on) == ("ann", False)
