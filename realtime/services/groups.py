"""Groups run by their members, blocks and mutes: for sockets and HTTP alike.

Every change of a group is an entry of its log (see :meth:`Store.change_group`): it is
committed before the ack, then published to every member *and* to those it removes (so
they learn of it), and every node is told to forget its cached members of the thread, so
that from the entry on a removed member is refused everywhere. The session that made the
change gets the ack instead of the update.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from protocol.errors import ErrorCode
from realtime.errors import RequestError, forbidden_thread, unavailable
from realtime.events import Unwatch, event_of
from realtime.services.messaging import MessagingService, now_ms
from realtime.services.publisher import Publisher
from realtime.store.base import (
    MEMBERS,
    TITLE,
    FixedMembers,
    GroupChange,
    GroupChanged,
    GroupFull,
    NotAMember,
    NotAnAdmin,
    Store,
    StoreUnavailable,
    Thread,
    ThreadNotFound,
    dm_thread_id,
)

HOUR_MS = 3_600_000

T = TypeVar("T")


class GroupService:
    """``create``, ``members``, ``leave``, ``rename``, ``block`` and ``mute``.

    ``user`` None is the HTTP API: it may change any group, and its entries have user
    null. ``max_group`` bounds a group's members, ``groups_per_hour`` the groups one user
    creates in any hour (0: no bound).
    """

    def __init__(self, messaging: MessagingService, publisher: Publisher, *,
                 max_group: int, groups_per_hour: int,
                 clock: Callable[[], int] = now_ms) -> None:
        self._messaging = messaging
        self._store: Store = messaging.store
        self._publisher = publisher
        self._max_group = max_group
        self._groups_per_hour = groups_per_hour
        self._clock = clock

    # -- groups ----------------------------------------------------------------------

    async def create(self, user: str | None, members: Sequence[str], title: str | None, *,
                     origin: str | None = None) -> GroupChanged:
        """Make a group of ``user`` (its admin) and ``members``; everyone in it gets the
        entry that made it, but ``origin``, which gets the ack."""
        now = self._clock()
        others = sorted(set(members) - {user} if user is not None else set(members))
        if user is not None and not others:
            raise RequestError(ErrorCode.BAD_REQUEST,
                               "members must name at least one user besides you")
        if len(set(others) | ({user} if user else set())) > self._max_group:
            raise RequestError(ErrorCode.TOO_LARGE,
                               f"a group has at most {self._max_group} members")
        if user is not None:
            if self._groups_per_hour and await self._guard(self._store.groups_created_since(
                    user, now - HOUR_MS)) >= self._groups_per_hour:
                raise RequestError(ErrorCode.RATE_LIMITED,
                                   f"at most {self._groups_per_hour} groups an hour")
            await self._refuse_blockers(user, others)
        made = await self._guard(self._store.open_group(user, others, title, now))
        self._messaging.threads.put(made.thread)
        await self._published(made, (), origin)
        return made

    async def change_members(self, user: str | None, thread_id: str, add: Sequence[str],
                             remove: Sequence[str], *,
                             origin: str | None = None) -> GroupChanged:
        """Add then remove members (admins; anyone may remove only themselves)."""
        thread = await self._thread(user, thread_id)
        if user is not None and add:
            await self._refuse_blockers(user, add)
        return await self._change(user, thread, GroupChange(
            thread.id, user, self._clock(), kind=MEMBERS, add=tuple(add), remove=tuple(remove),
            max_members=self._max_group), origin)

    async def leave(self, user: str, thread_id: str, *,
                    origin: str | None = None) -> GroupChanged:
        return await self.change_members(user, thread_id, (), (user,), origin=origin)

    async def rename(self, user: str | None, thread_id: str, title: str, *,
                     origin: str | None = None) -> GroupChanged:
        thread = await self._thread(user, thread_id)
        return await self._change(user, thread, GroupChange(
            thread.id, user, self._clock(), kind=TITLE, title=title), origin)

    async def describe(self, thread_id: str) -> Thread:
        """The thread with its members and admins, read from the store (HTTP API:
        ``not_found`` when missing)."""
        thread = await self._guard(self._store.get_thread(thread_id))
        if thread is None:
            raise RequestError(ErrorCode.NOT_FOUND, "no such thread")
        return thread

    # -- personal controls -----------------------------------------------------------

    async def block(self, user: str, other: str, on: bool) -> None:
        """``user`` blocks (``on``) or unblocks ``other``. Their DM's cached state is
        forgotten on every node, and ``other``'s sessions stop showing ``user``'s
        presence; ``other`` is never told."""
        if other == user:
            raise RequestError(ErrorCode.BAD_REQUEST, "you cannot block yourself")
        await self._guard(self._store.set_block(user, other, on))
        thread_id = dm_thread_id(user, other)
        self._messaging.threads.forget(thread_id)
        await self._publisher.thread_changed(thread_id)
        if on:
            await self._publisher.to_users([other], Unwatch(user))

    async def blocked_by(self, user: str) -> set[str]:
        """The users ``user`` blocks (only ever shown to ``user``)."""
        return await self._guard(self._store.blocked_by(user))

    async def mute(self, user: str, thread_id: str, on: bool, until: int | None) -> None:
        """Mute ``thread_id``'s pushes for ``user``, until ``until`` when given."""
        thread = await self._messaging.thread_for(user, thread=thread_id)
        value: int | bool = (until if until is not None else True) if on else False
        try:
            await self._store.set_mute(thread.id, user, value)
        except (ThreadNotFound, NotAMember) as exc:
            self._messaging.threads.forget(thread.id)
            raise forbidden_thread() from exc
        except StoreUnavailable as exc:
            raise unavailable("the store") from exc

    # -- plumbing --------------------------------------------------------------------

    async def _thread(self, user: str | None, thread_id: str) -> Thread:
        if user is None:
            return await self._messaging.find_thread(thread_id)
        return await self._messaging.thread_for(user, thread=thread_id)

    async def _change(self, user: str | None, thread: Thread, change: GroupChange,
                      origin: str | None) -> GroupChanged:
        try:
            changed = await self._store.change_group(change)
        except FixedMembers as exc:
            raise RequestError(ErrorCode.BAD_REQUEST, "a DM's members and title never change"
                               ) from exc
        except NotAnAdmin as exc:
            raise RequestError(ErrorCode.FORBIDDEN, str(exc)) from exc
        except GroupFull as exc:
            raise RequestError(ErrorCode.TOO_LARGE, str(exc)) from exc
        except (ThreadNotFound, NotAMember) as exc:
            self._messaging.threads.forget(thread.id)
            if user is None:
                raise RequestError(ErrorCode.NOT_FOUND, "no such thread") from exc
            raise forbidden_thread() from exc
        except StoreUnavailable as exc:
            raise unavailable("the store") from exc
        self._messaging.threads.put(changed.thread)
        if changed.entry is not None:
            removed = changed.entry.meta.get("removed", ()) if changed.entry.meta else ()
            await self._published(changed, removed, origin)
        return changed

    async def _published(self, changed: GroupChanged, removed: Sequence[str],
                         origin: str | None) -> None:
        """Every node forgets the thread's members, then the entry goes to the members
        and to those it removed: before the ack, like a message."""
        entry = changed.entry
        assert entry is not None
        await self._publisher.thread_changed(entry.thread)
        await self._messaging.publish(sorted({*changed.thread.members, *removed}),
                                      event_of(entry, origin))

    async def _refuse_blockers(self, user: str, others: Sequence[str]) -> None:
        """``forbidden`` when any of ``others`` blocks ``user`` (who is not told which
        of them, nor that it is a block)."""
        if await self._guard(self._store.blockers(user, list(others))):
            raise RequestError(ErrorCode.FORBIDDEN, "you cannot add these users")

    async def _guard(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except StoreUnavailable as exc:
            raise unavailable("the store") from exc
