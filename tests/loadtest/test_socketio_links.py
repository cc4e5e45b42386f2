"""The Socket.IO adapter's session over a WebSocket whose frames a test scripts: the
handshake, the heartbeat, events in and out, and the refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from loadtest.links import Link, LinkRefused
from loadtest.socketio_links import SocketIOLink, session_url

OPEN = '0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":65536}'


class ScriptedLink(Link):
    """A WebSocket that yields the frames it was given, then ends; it keeps what is
    sent."""

    def __init__(self, frames: list[str]) -> None:
        self.frames = frames
        self.sent: list[str] = []
        self.closed = False
        self.aborted = False

    async def send(self, text: str) -> None:
        self.sent.append(text)

    async def texts(self) -> AsyncIterator[str]:
        for frame in self.frames:
            yield frame

    async def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


async def received(link: SocketIOLink) -> list[str]:
    return [text async for text in link.texts()]


async def test_the_handshake_connects_to_the_main_namespace() -> None:
    ws = ScriptedLink([OPEN, '40{"sid":"n1"}'])
    link = await SocketIOLink.open(ws)
    assert ws.sent == ["40"]
    assert link.handshake.sid == "s1"


async def test_a_ping_during_the_handshake_is_answered() -> None:
    ws = ScriptedLink([OPEN, "2", '40{"sid":"n1"}'])
    await SocketIOLink.open(ws)
    assert ws.sent == ["40", "3"]


async def test_a_refused_connection_names_the_servers_reason() -> None:
    ws = ScriptedLink([OPEN, '44{"message":"user is required"}'])
    with pytest.raises(LinkRefused, match="user is required"):
        await SocketIOLink.open(ws)


async def test_a_server_that_does_not_open_a_session_is_refused() -> None:
    with pytest.raises(LinkRefused, match=r"not a Socket\.IO server"):
        await SocketIOLink.open(ScriptedLink(['{"type":"welcome"}']))


async def test_a_connection_that_ends_during_the_handshake_is_refused() -> None:
    with pytest.raises(LinkRefused, match=r"closed during the Socket\.IO handshake"):
        await SocketIOLink.open(ScriptedLink([OPEN]))


async def test_a_close_packet_during_the_handshake_is_refused() -> None:
    with pytest.raises(LinkRefused, match="closed the session"):
        await SocketIOLink.open(ScriptedLink([OPEN, "1"]))


async def test_sent_text_leaves_as_one_send_event() -> None:
    ws = ScriptedLink([OPEN, "40"])
    link = await SocketIOLink.open(ws)
    await link.send('{"to":"b","body":"hi"}')
    assert ws.sent[-1] == '42["send",{"to":"b","body":"hi"}]'


async def test_message_events_are_yielded_as_their_argument() -> None:
    ws = ScriptedLink([OPEN, "40", '42["message",{"from":"a","body":"1"}]',
                       '42["other",{"x":1}]', '42["message",{"from":"a","body":"2"}]'])
    link = await SocketIOLink.open(ws)
    assert await received(link) == ['{"from":"a","body":"1"}', '{"from":"a","body":"2"}']


async def test_a_message_event_asking_for_an_ack_still_yields_its_argument() -> None:
    ws = ScriptedLink([OPEN, "40", '427["message",{"from":"a","body":"1"}]'])
    link = await SocketIOLink.open(ws)
    assert await received(link) == ['{"from":"a","body":"1"}']


async def test_every_ping_is_answered_with_a_pong() -> None:
    ws = ScriptedLink([OPEN, "40", "2", '42["message",{"body":"x"}]', "2"])
    link = await SocketIOLink.open(ws)
    assert await received(link) == ['{"body":"x"}']
    assert ws.sent == ["40", "3", "3"]


async def test_the_stream_ends_at_the_servers_disconnect() -> None:
    ws = ScriptedLink([OPEN, "40", "41", '42["message",{"body":"late"}]'])
    link = await SocketIOLink.open(ws)
    assert await received(link) == []


async def test_the_stream_ends_at_an_engine_close() -> None:
    ws = ScriptedLink([OPEN, "40", "1", '42["message",{"body":"late"}]'])
    link = await SocketIOLink.open(ws)
    assert await received(link) == []


async def test_frames_of_neither_protocol_are_skipped() -> None:
    ws = ScriptedLink([OPEN, "40", "hello", "4x", '42["message",{"body":"x"}]'])
    link = await SocketIOLink.open(ws)
    assert await received(link) == ['{"body":"x"}']


async def test_closing_disconnects_from_the_namespace_first() -> None:
    ws = ScriptedLink([OPEN, "40"])
    link = await SocketIOLink.open(ws)
    await link.close()
    assert ws.sent[-1] == "41"
    assert ws.closed


def test_the_session_url_asks_for_a_websocket_only_session() -> None:
    assert session_url("ws://h:1/socket.io/?user=a&groups=g") == (
        "ws://h:1/socket.io/?EIO=4&transport=websocket&user=a&groups=g")


def test_a_url_without_a_path_gets_socketios() -> None:
    assert session_url("ws://h:1?user=a") == "ws://h:1/socket.io/?EIO=4&transport=websocket&user=a"


def test_the_engine_query_of_a_url_is_replaced_not_repeated() -> None:
    assert session_url("ws://h:1/x/?EIO=3&transport=polling") == (
        "ws://h:1/x/?EIO=4&transport=websocket")
