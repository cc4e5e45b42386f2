"""The generator's Socket.IO adapter: Socket.IO sessions over the generator's WebSockets.

A :class:`SocketIODialer` wraps another :class:`~loadtest.links.Dialer` and opens a
WebSocket-only Socket.IO session (``/socket.io/?EIO=4&transport=websocket``): it reads the
server's ``open`` packet, connects to the main namespace (``40``) and waits until the
server grants it. The :class:`~loadtest.links.Link` it returns carries the scenarios' text
as events, so the scenarios that drive the raw relay drive Socket.IO unchanged:

- ``send(text)`` emits ``"send"`` with ``text`` (JSON) as its one argument;
- ``texts()`` yields the argument (JSON text) of each ``"message"`` event received,
  answers the server's pings, and ends when the server closes the session.

The wire format is in :mod:`loadtest.socketio_wire`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from loadtest.links import Dialer, Link, LinkRefused
from loadtest.socketio_wire import (
    EnginePacket,
    EngineType,
    Handshake,
    SocketPacket,
    SocketType,
    WireError,
    decode_engine,
    decode_handshake,
    decode_socket,
    encode_engine,
    encode_socket,
    event_argument,
)

__all__ = ["RECEIVE_EVENT", "SEND_EVENT", "SocketIODialer", "SocketIOLink", "session_url"]

SEND_EVENT = "send"
"""The event a client emits with ``{to|group, body}``."""
RECEIVE_EVENT = "message"
"""The event the server emits with ``{from, body}``."""

_PONG = encode_engine(EnginePacket(EngineType.PONG))
_CONNECT = encode_engine(EnginePacket(EngineType.MESSAGE,
                                      encode_socket(SocketPacket(SocketType.CONNECT))))
_DISCONNECT = encode_engine(EnginePacket(EngineType.MESSAGE,
                                         encode_socket(SocketPacket(SocketType.DISCONNECT))))
_HANDSHAKE_SECONDS = 30.0


def session_url(url: str) -> str:
    """``url`` with the Engine.IO path (``/socket.io/`` when it names none) and the query
    of a WebSocket-only session added; its own query is kept."""
    parts = urlsplit(url)
    path = parts.path if parts.path not in ("", "/") else "/socket.io/"
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("EIO", "transport")]
    query = [("EIO", "4"), ("transport", "websocket"), *query]
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), ""))


class SocketIOLink(Link):
    """One Socket.IO session, connected to the main namespace."""

    __slots__ = ("_frames", "_link", "_send_prefix", "handshake")

    def __init__(self, link: Link, frames: AsyncIterator[str], handshake: Handshake) -> None:
        self._link = link
        self._frames = frames
        self.handshake = handshake
        # '42["send",' + argument + ']' built by concatenation: the argument is JSON already.
        self._send_prefix = f'42["{SEND_EVENT}",'

    @classmethod
    async def open(cls, link: Link) -> SocketIOLink:
        """Take the server's ``open`` packet, connect to the main namespace, return the
        session once the server grants it; :class:`LinkRefused` if it does not."""
        frames = aiter(link.texts())
        try:
            handshake = decode_handshake(decode_engine(await anext(frames)))
            await link.send(_CONNECT)
            while True:
                packet = decode_engine(await anext(frames))
                if packet.type is EngineType.PING:
                    await link.send(_PONG)
                    continue
                if packet.type is EngineType.CLOSE:
                    raise LinkRefused("the server closed the session before connecting it")
                if packet.type is not EngineType.MESSAGE:
                    continue
                answer = decode_socket(packet.data)
                if answer.type is SocketType.CONNECT and answer.namespace == "/":
                    return cls(link, frames, handshake)
                if answer.type is SocketType.CONNECT_ERROR:
                    reason = answer.data.get("message") if isinstance(answer.data, dict) \
                        else answer.data
                    raise LinkRefused(f"Socket.IO refused the connection: {reason}")
        except StopAsyncIteration:
            raise LinkRefused("the connection closed during the Socket.IO handshake") from None
        except WireError as exc:
            raise LinkRefused(f"not a Socket.IO server: {exc}") from None

    async def send(self, text: str) -> None:
        await self._link.send(self._send_prefix + text + "]")

    async def texts(self) -> AsyncIterator[str]:
        link = self._link
        async for frame in self._frames:
            event = event_argument(frame)
            if event is not None:
                if event[0] == RECEIVE_EVENT:
                    yield event[1]
                continue
            try:
                packet = decode_engine(frame)
            except WireError:
                continue
            if packet.type is EngineType.PING:
                with contextlib.suppress(ConnectionError):
                    await link.send(_PONG)
            elif packet.type is EngineType.CLOSE:
                return
            elif packet.type is EngineType.MESSAGE:
                try:
                    message = decode_socket(packet.data)
                except WireError:
                    continue
                if message.type is SocketType.DISCONNECT and message.namespace == "/":
                    return
                if (message.type is SocketType.EVENT and message.namespace == "/"
                        and message.data[0] == RECEIVE_EVENT and len(message.data) > 1):
                    # An event with an acknowledgement id or more than one argument:
                    # its first argument is the message.
                    yield msgspec.json.encode(message.data[1]).decode()

    async def close(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._link.send(_DISCONNECT)
        await self._link.close()

    def abort(self) -> None:
        self._link.abort()


class SocketIODialer(Dialer):
    """Opens :class:`SocketIOLink` sessions over the WebSockets of ``inner``."""

    def __init__(self, inner: Dialer) -> None:
        self._inner = inner

    async def dial(
        self, url: str, *, headers: Mapping[str, str], protocols: tuple[str, ...]
    ) -> Link:
        # Socket.IO selects no WebSocket subprotocol: the scenarios' one is not asked for.
        link = await self._inner.dial(session_url(url), headers=headers, protocols=())
        try:
            async with asyncio.timeout(_HANDSHAKE_SECONDS):
                return await SocketIOLink.open(link)
        except (LinkRefused, TimeoutError, ConnectionError) as exc:
            link.abort()
            if isinstance(exc, LinkRefused):
                raise
            raise LinkRefused(f"Socket.IO handshake failed: {type(exc).__name__}") from None

    async def close(self) -> None:
        await self._inner.close()
