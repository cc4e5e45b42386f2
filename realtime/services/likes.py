"""Live likes: exact counts in the store, coalesced updates for viewers and owners.

* A like is idempotent per (post, user); the count lives in the store, so a like over
  the socket and one over the HTTP API are the same operation.
* Followers of ``post:<id>`` get ``likes`` at most once per ``interval`` per post from
  this node. Each update reads the count from the store when it is sent, so the last
  one a follower gets carries the final count even when likes land on several nodes.
* The owner named by ``PUT /v1/posts/{post}`` gets a ``notification`` of kind "like" at
  most once per ``owner_window`` per post; likes in between are folded into one sent when
  the window ends. Unlikes and the owner's own likes notify nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from realtime.events import LikesCount, NotificationEvent
from realtime.services.publisher import Publisher
from realtime.store.base import Store, StoreUnavailable

log = logging.getLogger(__name__)


def post_topic(post: str) -> str:
    return f"post:{post}"


@dataclass(slots=True)
class _OwnerNotice:
    owner: str
    user: str
    count: int


class LikePush(Protocol):
    """Pushes a like notification to an owner with no session (the push service)."""

    async def like(self, owner: str, post: str, user: str, count: int) -> bool: ...


class LikesService:
    """Likes for sockets and HTTP alike. ``start()`` runs the coalescing task; ``close()``
    flushes what is pending and stops it."""

    def __init__(self, store: Store, publisher: Publisher, *, wall_clock: Callable[[], int],
                 interval: float = 0.25, owner_window: float = 10.0,
                 clock: Callable[[], float] = time.monotonic,
                 push: LikePush | None = None) -> None:
        self._store = store
        self._publisher = publisher
        self._wall_clock = wall_clock
        self.interval = interval
        self.owner_window = owner_window
        self._clock = clock
        self._push = push
        """When push is on: each like notification is pushed to an offline owner."""
        self._dirty: set[str] = set()
        self._owner_pending: dict[str, _OwnerNotice] = {}
        self._owner_last: dict[str, float] = {}
        self._owners: dict[str, tuple[float, str | None]] = {}
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="likes-coalescer")

    async def close(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        with contextlib.suppress(StoreUnavailable):
            await self._flush(final=True)

    async def set_owner(self, post: str, owner: str) -> None:
        await self._store.set_post_owner(post, owner)
        self._owners[post] = (self._clock() + 5.0, owner)

    async def count(self, post: str) -> int:
        return await self._store.like_count(post)

    async def like(self, user: str, post: str, on: bool) -> int:
        """Like or unlike ``post`` as ``user``; returns the count after it (durable)."""
        change = await self._store.set_like(post, user, on)
        if change.changed:
            self._dirty.add(post)
            if on:
                owner = await self._owner(post)
                if owner is not None and owner != user:
                    self._owner_pending[post] = _OwnerNotice(owner, user, change.count)
            self._wakeup.set()
        return change.count

    async def _owner(self, post: str) -> str | None:
        # A hot post is liked thousands of times a second: its owner is read once a while.
        cached = self._owners.get(post)
        now = self._clock()
        if cached is not None and cached[0] > now:
            return cached[1]
        owner = await self._store.post_owner(post)
        if len(self._owners) > 100_000:
            self._owners.clear()
        self._owners[post] = (now + 5.0, owner)
        return owner

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            # The first change opens a window; whatever else changes in it goes out together.
            await asyncio.sleep(self.interval)
            try:
                await self._flush(final=False)
            except StoreUnavailable:
                log.warning("likes: store unavailable, %d posts wait", len(self._dirty))
            if self._dirty or self._owner_pending:
                self._wakeup.set()

    async def _flush(self, *, final: bool) -> None:
        posts, self._dirty = self._dirty, set()
        for i, post in enumerate(posts):
            try:
                count = await self._store.like_count(post)
            except StoreUnavailable:
                self._dirty.update(list(posts)[i:])
                raise
            await self._publisher.to_topic(post_topic(post), LikesCount(post=post, count=count))
        now = self._clock()
        for post, notice in list(self._owner_pending.items()):
            if not final and now - self._owner_last.get(post, -self.owner_window) < \
                    self.owner_window:
                continue
            del self._owner_pending[post]
            self._owner_last[post] = now
            event = NotificationEvent(
                nid=secrets.token_urlsafe(9),
                data={"kind": "like", "post": post, "user": notice.user, "count": notice.count},
                ts=self._wall_clock(),
            )
            await self._publisher.to_users([notice.owner], event)
            if self._push is not None:
                await self._push.like(notice.owner, post, notice.user, notice.count)
        for post, at in list(self._owner_last.items()):
            if now - at >= self.owner_window and post not in self._owner_pending:
                del self._owner_last[post]
