"""`ThreadCache`: threads with their members, read through from the store."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from realtime.errors import forbidden_thread, unavailable
from realtime.store.base import Store, StoreUnavailable, Thread


class ThreadCache:
    """Threads with their members, read through from the store.

    Membership is checked on every send, so it must not cost a query each time. A
    change of members, on any node, drops the thread from every node's cache at once
    (through the broker: :meth:`forget`); entries also live at most ``ttl`` seconds.
    While ``trusted()`` is false (the broker is down, so changes made on other nodes
    cannot be heard) every lookup but a DM's goes to the store.
    """

    def __init__(self, store: Store, *, size: int = 50_000, ttl: float = 5.0,
                 clock: Callable[[], float] = time.monotonic,
                 trusted: Callable[[], bool] = lambda: True) -> None:
        self._store = store
        self._trusted = trusted
        self._size = size
        self._ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Thread]] = OrderedDict()

    def peek(self, thread_id: str) -> Thread | None:
        """The cached thread, if fresh. A DM's members are fixed by its id: never stale."""
        entry = self._entries.get(thread_id)
        if entry is not None and (entry[1].kind == "dm" or (
                entry[0] > self._clock() and self._trusted())):
            return entry[1]
        return None

    async def get(self, thread_id: str) -> Thread | None:
        thread = self.peek(thread_id)
        if thread is not None:
            return thread
        thread = await self._store.get_thread(thread_id)
        if thread is not None:
            self.put(thread)
        return thread

    async def member_thread(self, user: str, thread_id: str) -> Thread:
        """Thread ``thread_id`` if ``user`` is a member; ``forbidden`` otherwise (a missing
        thread and someone else's alike), ``unavailable`` when the store is down."""
        try:
            thread = await self.get(thread_id)
        except StoreUnavailable as exc:
            raise unavailable("the store") from exc
        if thread is None or user not in thread.members:
            raise forbidden_thread()
        return thread

    def put(self, thread: Thread) -> None:
        self._entries[thread.id] = (self._clock() + self._ttl, thread)
        self._entries.move_to_end(thread.id)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def forget(self, thread_id: str) -> None:
        self._entries.pop(thread_id, None)

    def clear(self) -> None:
        """Forget every thread (the broker was lost: changes may have gone unheard)."""
        self._entries.clear()
