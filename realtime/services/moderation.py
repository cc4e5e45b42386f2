"""Moderation: closing every session of a user, on every node, and counting them.

A disconnect is published to the user's own channel, so it reaches exactly the nodes
that hold their sessions (each subscribes the channel of every user it serves). Each of
those nodes closes its sessions of the user and answers, on the asking node's reply
channel, how many it closed. The asking node waits for an answer from every node the
cluster's directory lists with a session of the user (and from itself when it has one),
at most ``wait`` seconds, and adds up what it got.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable

import msgspec

from realtime.broker.channels import reply_channel
from realtime.errors import unavailable
from realtime.events import Disconnect, DisconnectReply, decode_event
from realtime.services.publisher import Publisher

log = logging.getLogger(__name__)


class _Asked:
    """One disconnect waiting for its answers."""

    def __init__(self) -> None:
        self.closed: dict[str, int] = {}
        self.changed = asyncio.Event()


class ModerationService:
    """``disconnect``: the node's side of ``POST /v1/users/{user}/disconnect``.

    ``nodes_of(user)`` names the nodes believed to hold sessions of ``user``;
    ``wait`` bounds how long an answer is waited for. :meth:`closed_here` is the hub's
    hook (a disconnect reached this node's sessions); :meth:`answered` reads the reply
    channel. ``start()`` listens, ``close()`` ends the tasks that answer.
    """

    def __init__(self, publisher: Publisher, *, node_id: str,
                 nodes_of: Callable[[str], Awaitable[set[str]]],
                 listen: Callable[[str, Callable[[bytes], None]], Awaitable[None]],
                 wait: float) -> None:
        self._publisher = publisher
        self._node_id = node_id
        self._nodes_of = nodes_of
        self._listen = listen
        self._wait = wait
        self._reply = reply_channel(node_id)
        self._asked: dict[str, _Asked] = {}
        self._answers: set[asyncio.Task[bool]] = set()

    async def start(self) -> None:
        await self._listen(self._reply, self.answered)

    async def close(self) -> None:
        for task in self._answers:
            task.cancel()
        await asyncio.gather(*self._answers, return_exceptions=True)

    async def disconnect(self, user: str, code: int, reason: str) -> int:
        """Close every session of ``user`` with ``code``; return how many were closed,
        as the nodes that hold them answered within the wait. ``unavailable`` when the
        broker refused the request (it is retried, so the sessions close later)."""
        request = secrets.token_urlsafe(12)
        asked = self._asked[request] = _Asked()
        try:
            expected = await self._nodes_of(user)
            if not await self._publisher.to_users(
                    [user], Disconnect(code, reason, request, self._reply)):
                # Retried in the background; the caller learns nothing is closed yet.
                raise unavailable("the broker")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._wait):
                    while not expected <= asked.closed.keys():
                        asked.changed.clear()
                        await asked.changed.wait()
            return sum(asked.closed.values())
        finally:
            del self._asked[request]

    def closed_here(self, event: Disconnect, closed: int) -> None:
        """This node closed ``closed`` sessions for ``event``: answer the asking node."""
        task = asyncio.get_running_loop().create_task(self._publisher.to_channel(
            event.reply, DisconnectReply(event.request, self._node_id, closed)))
        self._answers.add(task)
        task.add_done_callback(self._answers.discard)

    def answered(self, data: bytes) -> None:
        try:
            reply = decode_event(data)
        except msgspec.DecodeError:
            log.warning("dropped an undecodable reply (%d bytes)", len(data))
            return
        if not isinstance(reply, DisconnectReply):
            return
        asked = self._asked.get(reply.request)
        if asked is not None:
            asked.closed[reply.node] = reply.closed
            asked.changed.set()
