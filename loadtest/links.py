"""WebSocket client connections for the generator, behind one small interface.

Two implementations, chosen with ``--client``: aiohttp's client (the default: it costs the
generator less CPU per frame, see docs/benchmarks.md) and websockets'. A :class:`Dialer`
opens :class:`Link` objects; a link sends text, yields received text, and can be dropped
without a closing handshake (as a phone losing its network would).
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import AsyncIterator, Mapping

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

__all__ = ["AiohttpDialer", "Dialer", "Link", "LinkRefused", "WebsocketsDialer", "make_dialer"]

_MAX_INCOMING = 16 * 2**20


class LinkRefused(Exception):
    """The handshake failed: ``status`` is the HTTP status when the server answered."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Link(abc.ABC):
    """One open WebSocket."""

    @abc.abstractmethod
    async def send(self, text: str) -> None:
        """Send one text frame; raise :class:`ConnectionError` if the link is gone."""

    @abc.abstractmethod
    def texts(self) -> AsyncIterator[str]:
        """Yield every text frame received, until the connection ends."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close with a closing handshake (1000). Idempotent."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Drop the TCP connection at once, without a closing handshake."""


class Dialer(abc.ABC):
    """Opens links; owns whatever they share. Use as an async context manager."""

    @abc.abstractmethod
    async def dial(
        self, url: str, *, headers: Mapping[str, str], protocols: tuple[str, ...]
    ) -> Link:
        """Open a WebSocket to ``url``; raise :class:`LinkRefused` if it cannot."""

    async def __aenter__(self) -> Dialer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:  # noqa: B027 - a no-op for dialers that share nothing
        """Release what the links shared, once they are closed."""


# aiohttp


class _AiohttpLink(Link):
    __slots__ = ("_ws",)

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws

    async def send(self, text: str) -> None:
        if self._ws.closed:
            raise ConnectionError("link closed")
        await self._ws.send_str(text)

    async def texts(self) -> AsyncIterator[str]:
        async for msg in self._ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                yield msg.data
            elif msg.type is aiohttp.WSMsgType.BINARY:
                yield msg.data.decode()

    async def close(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._ws.close()

    def abort(self) -> None:
        # The frame writer holds the only public-enough handle on the transport.
        self._ws._writer.transport.abort()


class AiohttpDialer(Dialer):
    """Links over one aiohttp :class:`~aiohttp.ClientSession` with no connection limit."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, force_close=True),
                timeout=aiohttp.ClientTimeout(total=None, connect=30),
            )
        return self._session

    async def dial(
        self, url: str, *, headers: Mapping[str, str], protocols: tuple[str, ...]
    ) -> Link:
        try:
            ws = await self._get_session().ws_connect(
                url,
                headers=dict(headers),
                protocols=protocols,
                compress=0,
                autoping=True,
                heartbeat=None,
                max_msg_size=_MAX_INCOMING,
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise LinkRefused(str(exc), exc.status) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise LinkRefused(f"{type(exc).__name__}: {exc}") from None
        return _AiohttpLink(ws)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# websockets


class _WebsocketsLink(Link):
    __slots__ = ("_ws",)

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws

    async def send(self, text: str) -> None:
        try:
            await self._ws.send(text)
        except ConnectionClosed as exc:
            raise ConnectionError("link closed") from exc

    async def texts(self) -> AsyncIterator[str]:
        try:
            async for data in self._ws:
                yield data if isinstance(data, str) else data.decode()
        except ConnectionClosed:
            return

    async def close(self) -> None:
        await self._ws.close()

    def abort(self) -> None:
        self._ws.transport.abort()


class WebsocketsDialer(Dialer):
    """Links opened with websockets' asyncio client, compression off."""

    async def dial(
        self, url: str, *, headers: Mapping[str, str], protocols: tuple[str, ...]
    ) -> Link:
        try:
            ws = await connect(
                url,
                additional_headers=dict(headers),
                # An empty list would send an empty Sec-WebSocket-Protocol header, which
                # servers may refuse (Socket.IO does): none is asked for then.
                subprotocols=list(protocols) or None,  # type: ignore[arg-type]
                compression=None,
                max_size=_MAX_INCOMING,
                ping_interval=None,
                open_timeout=30,
                proxy=None,
            )
        except Exception as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            raise LinkRefused(f"{type(exc).__name__}: {exc}", status) from None
        return _WebsocketsLink(ws)


def make_dialer(name: str) -> Dialer:
    """The dialer called ``name``: ``aiohttp`` or ``websockets``."""
    if name == "aiohttp":
        return AiohttpDialer()
    if name == "websockets":
        return WebsocketsDialer()
    raise ValueError(f"unknown client {name!r}")
