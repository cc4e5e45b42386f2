"""A Python client for the realtime server, built on websockets' asyncio client.

:class:`Client` holds one WebSocket at a time and reconnects by itself. Requests are
matched to their replies by ``id``; every other server frame is an event, delivered in
order through :meth:`Client.events` or :meth:`Client.next_event`.

Nothing is lost across reconnects: the client remembers the last cursor it processed and
reconnects with it, so the server replays what was missed before any live frame; a
message seen twice (same thread and ``seq``) is delivered once.

Exceptions::

    Exception
     └── ClientError             a request failed; ``code`` is a protocol error code
          ├── AuthenticationError    the server refused the token (HTTP 401, or close
          │                          1008 with no way to get a fresh token)
          └── ClientClosed           the client is closed or gave up reconnecting
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any, Final, Self, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from uuid import uuid4

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from protocol.codec import Codec, codec_for
from protocol.errors import CloseCode, ProtocolError
from protocol.frames import (
    Ack,
    Attachment,
    Block,
    ClientFrame,
    Create,
    Device,
    Edit,
    Error,
    History,
    HistoryReply,
    Leave,
    Like,
    ListThreads,
    Members,
    Message,
    Mute,
    Ping,
    Pong,
    React,
    Read,
    Refresh,
    Rename,
    Send,
    ServerFrame,
    Subscribe,
    Sync,
    Synced,
    ThreadsReply,
    Typing,
    Unsend,
    Unsubscribe,
    Update,
    Welcome,
)

__all__ = ["AuthenticationError", "Client", "ClientClosed", "ClientError"]

logger = logging.getLogger(__name__)

F = TypeVar("F")

# Incoming frames may exceed the server's own frame limit: a history page holds up to 200
# messages of up to 16 KiB each.
_MAX_INCOMING: Final = 16 * 2**20
_WELCOME_TIMEOUT: Final = 10.0
_STOP: Final = object()


class ClientError(Exception):
    """Raised when a request fails: ``code`` is an error code of the protocol
    (``unavailable`` when the connection dropped before the reply: retry, reusing the
    same ``cid`` for a ``send``) and ``message`` a short explanation."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


class AuthenticationError(ClientError):
    """Raised when the server refuses the client's token."""

    def __init__(self, message: str = "token refused") -> None:
        super().__init__("unauthorized", message)


class ClientClosed(ClientError):
    """Raised by requests and event waits once the client is closed or has given up."""

    def __init__(self, message: str = "client is closed") -> None:
        super().__init__("unavailable", message)


class Client:
    """A connection to a realtime node that survives drops.

    ``token`` is a JWT, or a callable returning one; a callable is called on every
    (re)connection, so it can hand out fresh tokens. ``cursor`` resumes from a known
    position. With ``reconnect``, a dropped connection is reopened after an exponential
    backoff with jitter between ``backoff[0]`` and ``backoff[1]`` seconds, except after
    :meth:`close`, after a normal closure (1000) by the server, after close code 1008
    when ``token`` is a plain string, or when the handshake is refused with 401.

    Use as ``async with Client(url, token) as client:``, or call :meth:`connect` and
    :meth:`close` yourself. Events not consumed accumulate in memory.
    """

    def __init__(
        self,
        url: str,
        token: str | Callable[[], str],
        *,
        subprotocol: str = "rt.v1.json",
        cursor: str | None = None,
        reconnect: bool = True,
        backoff: tuple[float, float] = (0.1, 5.0),
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self._url = url
        self._token = token
        self._subprotocol = subprotocol
        self._cursor = cursor
        self._reconnect = reconnect
        self._backoff = backoff
        self._extra_headers = dict(extra_headers or {})
        self._ws: ClientConnection | None = None
        self._codec: Codec = codec_for(subprotocol)
        self._task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[ServerFrame]] = {}
        self._events: asyncio.Queue[Any] = asyncio.Queue()
        self._last_seq: dict[str, int] = {}
        self._closing = False
        self._failure: ClientError | None = None
        self.welcome: Welcome | None = None
        """The last :class:`Welcome` received, or ``None`` before the first."""
        self.close_code: int | None = None
        """The close code of the last connection that ended, or ``None``."""

    @property
    def cursor(self) -> str | None:
        """The position after the last message or ``synced`` processed."""
        return self._cursor

    @property
    def connected(self) -> bool:
        """Whether a connection is open right now."""
        return self._ws is not None

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the first connection and return once its ``welcome`` arrived.

        Failures are not retried here: :class:`AuthenticationError` on 401, otherwise
        :class:`ClientError` with the code from the refusal (``rate_limited`` past the
        session limit) or ``unavailable``.
        """
        if self._task is not None:
            raise RuntimeError("connect() was already called")
        if self._closing:
            raise ClientClosed()
        ws = await self._open()
        self._task = asyncio.create_task(self._run(ws), name=f"realtime-client {self._url}")

    async def close(self) -> None:
        """Close the connection, stop reconnecting, and fail pending requests.

        Idempotent. Returns once the reader task has finished.
        """
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            # wait() neither raises the task's error (already logged) nor swallows
            # a cancellation of close() itself.
            await asyncio.wait([self._task])
            if not self._task.cancelled():
                self._task.exception()
        if self._ws is not None:
            # A reconnection that completed while close() was waiting.
            await self._ws.close()
            self._ws = None
        self._stop(ClientClosed())

    # Events

    async def events(self) -> AsyncIterator[ServerFrame]:
        """Yield every event in order; end after :meth:`close`, or raise the error
        that made the client give up.

        Events are welcome (after each reconnection too), message, synced (after a
        replay that no :meth:`sync` asked for), typing, receipt, likes, presence,
        notification, and error frames that answer no pending request.
        """
        while (frame := await self._next()) is not None:
            yield frame

    async def next_event(
        self,
        type_: type[F] | tuple[type[F], ...] | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a bound every test wait needs
    ) -> F:
        """Return the next event (of class ``type_``, if given: others are discarded).

        :raises TimeoutError: if none comes within ``timeout`` seconds.
        :raises ClientError: if the client stopped first.
        """
        async with asyncio.timeout(timeout):
            while (frame := await self._next()) is not None:
                if type_ is None or isinstance(frame, type_):
                    return frame  # type: ignore[return-value]
        raise self._failure or ClientClosed()

    async def _next(self) -> ServerFrame | None:
        frame = await self._events.get()
        if frame is not _STOP:
            return frame
        self._events.put_nowait(_STOP)  # for any other waiter
        if self._failure is None or isinstance(self._failure, ClientClosed):
            return None
        raise self._failure

    # Requests

    async def request(self, frame: ClientFrame) -> ServerFrame:
        """Send ``frame`` with a fresh ``id`` and return the reply with that ``id``.

        Fails at once with ``unavailable`` while reconnecting; bound the wait for the
        reply with :func:`asyncio.timeout` if needed.

        :raises ClientError: with the reply's code if the reply is an ``error``, or
            ``unavailable`` if the connection is down or drops before the reply.
        """
        ws = self._check_open()
        rid = next(self._ids)
        future: asyncio.Future[ServerFrame] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            await ws.send(self._codec.encode_client(msgspec.structs.replace(frame, id=rid)))
            reply = await future
        except ConnectionClosed:
            raise ClientError("unavailable", "connection lost") from None
        finally:
            self._pending.pop(rid, None)
            if future.done() and not future.cancelled():
                # Failed by the reader after the send itself failed: already answered.
                future.exception()
        if isinstance(reply, Error):
            raise ClientError(reply.code, reply.message)
        return reply

    async def send(
        self,
        body: str,
        *,
        thread: str | None = None,
        to: str | None = None,
        cid: str | None = None,
        meta: dict[str, Any] | None = None,
        reply_to: int | None = None,
        attachments: list[Attachment] | None = None,
    ) -> Ack:
        """Post ``body`` to ``thread`` or to the DM with user ``to``, maybe as a reply to
        message ``reply_to`` and with ``attachments``; return the ack (thread, seq, msg,
        ts). Retrying with the same ``cid`` never duplicates."""
        frame = Send(thread=thread, to=to, cid=cid or uuid4().hex, body=body, meta=meta,
                     reply_to=reply_to, attachments=attachments)
        return await self._call(frame, Ack)

    async def edit(self, thread: str, seq: int, body: str,
                   meta: dict[str, Any] | None = None) -> Ack:
        """Replace the body (and ``meta``, when given) of message ``seq``, one of the
        user's own; the ack carries the change's own ``seq`` and the ``target``.
        Retrying the same edit answers the same ``seq``."""
        return await self._call(Edit(thread=thread, seq=seq, body=body, meta=meta), Ack)

    async def unsend(self, thread: str, seq: int) -> Ack:
        """Erase message ``seq``, one of the user's own, for everyone."""
        return await self._call(Unsend(thread=thread, seq=seq), Ack)

    async def react(self, thread: str, seq: int, emoji: str, on: bool = True) -> Ack:
        """Add (or remove) the user's ``emoji`` on message ``seq``; the ack's ``seq`` is
        None when the reaction was already in that state."""
        return await self._call(React(thread=thread, seq=seq, emoji=emoji, on=on), Ack)

    async def create(self, members: list[str], title: str | None = None) -> Ack:
        """Make a group of the user (its first admin) and ``members``; the ack's
        ``thread`` is its id. Every member gets its first entry, an ``update`` of kind
        ``members``."""
        return await self._call(Create(members=members, title=title), Ack)

    async def members(self, thread: str, add: list[str] | None = None,
                      remove: list[str] | None = None) -> Ack:
        """Add and remove members of a group (admins; anyone may remove themselves);
        the ack's ``members`` are the members after."""
        return await self._call(Members(thread=thread, add=add or [], remove=remove or []),
                                Ack)

    async def leave(self, thread: str) -> Ack:
        """Leave a group: nothing more of it reaches this user."""
        return await self._call(Leave(thread=thread), Ack)

    async def rename(self, thread: str, title: str) -> Ack:
        """Set a group's title (admins)."""
        return await self._call(Rename(thread=thread, title=title), Ack)

    async def block(self, user: str, on: bool = True) -> Ack:
        """Block (or unblock) ``user``: they cannot DM this user, see their presence or
        add them to a group, and are not told."""
        return await self._call(Block(user=user, on=on), Ack)

    async def mute(self, thread: str, on: bool = True, until: int | None = None) -> Ack:
        """Mute (or unmute) a thread's pushes to this user, until ``until`` (epoch ms)
        when given."""
        return await self._call(Mute(thread=thread, on=on, until=until), Ack)

    async def typing(self, thread: str, on: bool = True) -> None:
        """Say that the user started (or stopped) typing. No reply: errors are events."""
        ws = self._check_open()
        try:
            await ws.send(self._codec.encode_client(Typing(thread=thread, on=on)))
        except ConnectionClosed:
            raise ClientError("unavailable", "connection lost") from None

    async def read(self, thread: str, seq: int) -> Ack:
        """Mark ``thread`` read up to ``seq``."""
        return await self._call(Read(thread=thread, seq=seq), Ack)

    async def history(
        self, thread: str, before: int | None = None, limit: int = 50
    ) -> HistoryReply:
        """Return the newest ``limit`` messages of ``thread`` older than ``before``."""
        return await self._call(History(thread=thread, before=before, limit=limit), HistoryReply)

    async def threads(self, *, limit: int = 50, after: str | None = None) -> ThreadsReply:
        """Return a page of the user's threads (newest activity first) with their last
        message and unread count; ``more`` says whether another page follows ``after``
        the last one."""
        return await self._call(ListThreads(limit=limit, after=after), ThreadsReply)

    async def like(self, post: str, on: bool = True) -> Ack:
        """Like (or unlike) ``post``; the ack carries the new count."""
        return await self._call(Like(post=post, on=on), Ack)

    async def subscribe(self, topic: str) -> Ack:
        """Follow ``post:<id>`` (likes) or ``presence:<user>``."""
        return await self._call(Subscribe(topic=topic), Ack)

    async def unsubscribe(self, topic: str) -> Ack:
        """Stop following ``topic``."""
        return await self._call(Unsubscribe(topic=topic), Ack)

    async def device(self, token: str, platform: str) -> Ack:
        """Register this device's push ``token`` for ``platform``."""
        return await self._call(Device(token=token, platform=platform), Ack)

    async def refresh(self, token: str) -> Ack:
        """Hand the server a fresh token for the same user; later reconnections use it
        too, unless the client was given a token callable."""
        ack = await self._call(Refresh(token=token), Ack)
        if isinstance(self._token, str):
            self._token = token
        return ack

    async def ping(self) -> Pong:
        """Round-trip an application-level ping."""
        return await self._call(Ping(), Pong)

    async def sync(self) -> Synced:
        """Ask for every message after :attr:`cursor`; return the ``synced`` reply once
        the replayed messages are in the event stream (they precede it on the wire)."""
        return await self._call(Sync(cursor=self._cursor), Synced)

    async def _call(self, frame: ClientFrame, kind: type[F]) -> F:
        reply = await self.request(frame)
        if not isinstance(reply, kind):
            raise ClientError("internal", f"unexpected reply {type(reply).__name__}")
        return reply

    def _check_open(self) -> ClientConnection:
        if self._failure is not None:
            raise self._failure
        if self._ws is None:
            raise ClientError("unavailable", "not connected")
        return self._ws

    # Connection lifecycle

    async def _open(self) -> ClientConnection:
        """Connect once, read the ``welcome``, and make the connection current."""
        token = self._token() if callable(self._token) else self._token
        headers = {**self._extra_headers, "Authorization": f"Bearer {token}"}
        try:
            ws = await connect(
                self._resume_url(),
                subprotocols=[self._subprotocol],  # type: ignore[list-item]
                additional_headers=headers,
                compression=None,
                max_size=_MAX_INCOMING,
                proxy=None,
            )
        except InvalidStatus as exc:
            raise _refusal(exc) from None
        except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
            # ConnectionClosed too: a node that drains or dies mid-handshake is one more
            # reason to try again, never a reason to stop reconnecting.
            raise ClientError("unavailable", str(exc)) from exc
        try:
            self._codec = codec_for(ws.subprotocol or "rt.v1.json")
            async with asyncio.timeout(_WELCOME_TIMEOUT):
                first = self._codec.decode_server(await ws.recv())
            if not isinstance(first, Welcome):
                raise ClientError("internal", f"expected welcome, got {type(first).__name__}")
        except BaseException as exc:
            await ws.close()
            if isinstance(exc, ConnectionClosed):
                raise ClientError("unavailable", "closed before welcome") from None
            if isinstance(exc, TimeoutError):
                raise ClientError("unavailable", "no welcome in time") from None
            if isinstance(exc, ProtocolError):
                raise ClientError("internal", f"undecodable welcome: {exc}") from None
            raise
        self._ws = ws
        self._dispatch(first)
        return ws

    async def _run(self, ws: ClientConnection) -> None:
        """Read ``ws`` until it drops, then reconnect, for as long as allowed."""
        try:
            while True:
                await self._read(ws)
                self._ws = None
                self.close_code = ws.close_code
                self._fail_pending(ClientError("unavailable", "connection lost"))
                if self._closing:
                    return
                stop = self._why_stop(ws.close_code)
                if stop is not None:
                    self._stop(stop)
                    return
                try:
                    ws = await self._reopen()
                except ClientError as exc:
                    self._stop(exc)
                    return
        except Exception:
            # A bug of ours: waiters must not hang on a dead reader.
            logger.exception("client reader failed")
            self._stop(ClientError("internal", "client reader failed"))
            raise

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for data in ws:
                try:
                    frame = self._codec.decode_server(data)
                except (ProtocolError, msgspec.MsgspecError, ValueError):
                    # Clients ignore what they do not understand (newer server frames).
                    logger.debug("ignoring an undecodable frame")
                    continue
                self._dispatch(frame)
        except ConnectionClosed:
            pass

    def _why_stop(self, code: int | None) -> ClientError | None:
        if not self._reconnect:
            return ClientClosed(f"connection closed ({code})")
        if code == CloseCode.NORMAL:
            return ClientClosed("closed by the server")
        if code == CloseCode.POLICY_VIOLATION and not callable(self._token):
            return AuthenticationError("closed for policy (token expired?)")
        return None

    async def _reopen(self) -> ClientConnection:
        """Reconnect with backoff; give up only when the token is refused."""
        low, high = self._backoff
        for attempt in itertools.count():
            delay = min(high, low * 2 ** min(attempt, 32))
            await asyncio.sleep(random.uniform(delay / 2, delay))
            try:
                return await self._open()
            except AuthenticationError:
                raise
            except ClientError as exc:
                logger.info("reconnect failed (%s); retrying", exc)
        raise AssertionError("unreachable")

    def _resume_url(self) -> str:
        if self._cursor is None:
            return self._url
        parts = urlsplit(self._url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "cursor"]
        query.append(("cursor", self._cursor))
        return urlunsplit(parts._replace(query=urlencode(query)))

    def _dispatch(self, frame: ServerFrame) -> None:
        """Resolve the request that ``frame`` answers, or queue it as an event."""
        rid = getattr(frame, "id", None)
        future = self._pending.pop(rid, None) if isinstance(rid, int) else None
        if future is not None:
            if isinstance(frame, Synced):
                self._cursor = frame.cursor
            if not future.done():
                future.set_result(frame)
            return
        if isinstance(frame, Welcome):
            self.welcome = frame
            if self._cursor is None:
                self._cursor = frame.cursor
        elif isinstance(frame, Message | Update):
            # Updates are entries of the thread's log like messages, with their own seq.
            # Replays are exactly once by contract; this guards the seams anyway.
            last = self._last_seq.get(frame.thread)
            if last is not None and frame.seq <= last:
                return
            self._last_seq[frame.thread] = frame.seq
            if frame.cursor is not None:
                self._cursor = frame.cursor
        elif isinstance(frame, Synced):
            self._cursor = frame.cursor
        self._events.put_nowait(frame)

    def _fail_pending(self, exc: ClientError) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(exc)

    def _stop(self, exc: ClientError) -> None:
        if self._failure is None:
            self._failure = exc
            self._events.put_nowait(_STOP)
        self._fail_pending(exc)


def _refusal(exc: InvalidStatus) -> ClientError:
    """Turn a refused handshake into the error its status and JSON body describe."""
    response = exc.response
    try:
        body = json.loads(response.body or b"{}")
        code, message = str(body["code"]), str(body.get("message", ""))
    except (ValueError, KeyError, TypeError):
        code, message = "unavailable", f"HTTP {response.status_code}"
    if response.status_code == 401:
        return AuthenticationError(message or "token refused")
    if response.status_code == 429:
        code = "rate_limited"
    return ClientError(code, message)
