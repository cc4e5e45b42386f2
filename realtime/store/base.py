"""The `Store`: threads, members, messages, read pointers and idempotency keys.

The store is the truth. Pub/sub is only the fast path; everything a client can be
owed (history, replay after a reconnect, unread counts) is answered from here.

Positions
---------
Every stored message has two numbers:

* ``seq``: gapless and increasing *per thread*, starting at 1.
* ``pos``: increasing across the whole store, in commit order. A message
  committed later always has a larger ``pos`` than every message committed
  before it. A user's cursor is a ``pos``: "every message of my threads with
  ``pos`` greater than this" is exactly what that user has not seen yet.
  ``pos`` may have gaps (an aborted batch); ``seq`` never has.

Implementations must keep, and the contract suite in ``tests/contracts`` checks:

* :meth:`Store.append` returns only after the message is committed (acked means
  durable), and a second append with the same ``(thread, sender, cid)`` returns the
  original message with ``duplicate=True`` and stores nothing.
* Concurrent appends to one thread never produce a gap or a duplicate ``seq``,
  and ``seq`` order equals ``pos`` order within a thread.
* Reads see every append that has returned.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec


class StoreError(Exception):
    """Base class of the errors a store raises on purpose."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or did not answer: the caller may retry."""


class SchemaBehind(StoreError):
    """The database's schema is older than this release needs: run the migrations."""


class ThreadNotFound(StoreError):
    """The thread does not exist."""


class NotAMember(StoreError):
    """The sender of a message is not a member of its thread."""


class MessageNotFound(StoreError):
    """A change names no message of its thread, or an unsent one."""


class NotTheSender(StoreError):
    """An edit or unsend by someone other than the message's sender."""


class TooManyReactions(StoreError):
    """A reaction past :data:`MAX_REACTIONS_PER_USER` of one user on one message, or a
    new emoji past :data:`MAX_EMOJI_PER_MESSAGE` on one message."""


MAX_REACTIONS_PER_USER = 10
"""Emoji one user may have on one message at a time."""
MAX_EMOJI_PER_MESSAGE = 50
"""Distinct emoji one message may carry: its folded state stays small."""


class NotAnAdmin(StoreError):
    """A member who is no admin of the group asked for what only admins may do."""


class FixedMembers(StoreError):
    """A change of a DM's members or title: a DM's members are fixed by its id."""


class GroupFull(StoreError):
    """A change would make a group larger than its limit."""


@dataclass(frozen=True, slots=True)
class Thread:
    """A conversation. ``kind`` is ``"dm"`` (two members, or one for notes) or ``"group"``."""

    id: str
    kind: str
    members: tuple[str, ...]
    title: str | None = None
    admins: tuple[str, ...] = ()
    """A group's admins (sorted); none for a DM, or a group made by the HTTP API."""
    blocked: tuple[str, ...] = ()
    """In a DM, the members who block the other one: the other one may not send."""


# The three records every message passes through are structs, not frozen dataclasses:
# a frozen dataclass's __init__ sets each field through object.__setattr__, about 1 us a
# record, several times per message. ``gc=False``: they hold no references back to
# anything that could hold them, so the cycle collector need not track them.


class NewMessage(msgspec.Struct, frozen=True, gc=False):
    """A message to append. ``sender`` is None for a system message."""

    thread: str
    sender: str | None
    body: str
    meta: dict[str, Any] | None = None
    cid: str | None = None
    ts: int = 0
    """Epoch milliseconds, set by the caller (the store never reads the clock)."""
    reply_to: int | None = None
    attachments: list[dict[str, Any]] | None = None
    push: bool = False
    """Owe a push of it: the commit that stores it also records it in ``push_owed`` (the
    push outbox's), in the same transaction. Not for a duplicate, which stores nothing."""


MESSAGE = "message"
EDIT = "edit"
UNSEND = "unsend"
REACT = "react"
CHANGE_KINDS = (EDIT, UNSEND, REACT)
MEMBERS = "members"
TITLE = "title"
GROUP_KINDS = (MEMBERS, TITLE)


class StoredMessage(msgspec.Struct, frozen=True, gc=False):
    """A committed entry of a thread's log: a message, or a change to one.

    A message (``kind`` ``"message"``) is read in its current state: ``body`` and
    ``meta`` as last edited, ``edited`` (epoch ms of the last edit), ``deleted`` once
    unsent (then its body is empty, its meta and attachments gone); ``reactions``
    ({emoji: [users]}) only where the read folds them in (history, thread lists).

    A change (``kind`` ``"edit"``, ``"unsend"``, ``"react"``) names the message it
    changes in ``target``; ``sender`` is who made it (None: the HTTP API). An edit
    carries the message's new ``body`` and ``meta``, a reaction ``emoji`` and ``on``.

    A change of the group itself has no ``target``: ``"members"`` carries ``meta``
    {added, removed, admins} (admins: the group's admins after it), ``"title"`` the new
    title as ``body``.
    """

    thread: str
    seq: int
    pos: int
    msg: str
    """Server message id: unique across the store."""
    sender: str | None
    body: str
    meta: dict[str, Any] | None
    cid: str | None
    ts: int
    kind: str = MESSAGE
    target: int | None = None
    reply_to: int | None = None
    attachments: list[dict[str, Any]] | None = None
    edited: int | None = None
    deleted: bool = False
    emoji: str | None = None
    on: bool | None = None
    reactions: dict[str, list[str]] | None = None


class NewChange(msgspec.Struct, frozen=True, gc=False):
    """A change to make to message ``target`` of ``thread``: an ``edit`` (``body``, and
    ``meta`` when ``replace_meta``), an ``unsend``, or a ``react`` (``emoji``, ``on``).
    ``user`` None is the HTTP API, which may edit and unsend any message."""

    thread: str
    user: str | None
    kind: str
    target: int
    ts: int
    body: str = ""
    meta: dict[str, Any] | None = None
    replace_meta: bool = False
    emoji: str = ""
    on: bool = True


class GroupChange(msgspec.Struct, frozen=True, gc=False):
    """A change to group ``thread`` by ``user`` (None: the HTTP API, which may do
    anything): ``kind`` ``"members"`` adds ``add`` then removes ``remove``; ``"title"``
    sets ``title``. ``max_members`` bounds the group's size after an addition (0: no
    bound)."""

    thread: str
    user: str | None
    ts: int
    kind: str = MEMBERS
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    title: str | None = None
    max_members: int = 0


class GroupChanged(msgspec.Struct, frozen=True, gc=False):
    """The result of :meth:`Store.change_group` and :meth:`Store.open_group`: the thread
    after the change and its entry (None when nothing changed)."""

    thread: Thread
    entry: StoredMessage | None


class Changed(msgspec.Struct, frozen=True, gc=False):
    """The result of :meth:`Store.change`.

    ``entry`` is the new entry, or None when nothing changed (a reaction already in that
    state, an edit to the current state). Then ``seq`` is the entry that made the current
    state where one is known (the last edit, so that a retried edit gets its first
    answer), else None. ``target`` is the message after the change (its reactions not
    read).
    """

    entry: StoredMessage | None
    seq: int | None
    target: StoredMessage | None = None


class Appended(msgspec.Struct, frozen=True, gc=False):
    """The result of :meth:`Store.append`."""

    message: StoredMessage
    duplicate: bool = False
    """True when ``(thread, sender, cid)`` was already stored: ``message`` is the original."""


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    """One entry of a user's thread list."""

    thread: Thread
    last: StoredMessage | None
    unread: int
    """Messages from others with ``seq`` above the user's read pointer."""
    read_seq: int = 0
    muted: int | bool = False
    """The user's mute of the thread: False, True (until unmuted) or until when (epoch ms)."""


@dataclass(frozen=True, slots=True)
class LikeChange:
    """The result of :meth:`Store.set_like`."""

    count: int
    """Likes of the post after the change."""
    changed: bool
    """False when the like was already in that state (a double like, an unlike of nothing)."""


@dataclass(frozen=True, slots=True)
class DeviceToken:
    """A push token registered for a user's device."""

    user: str
    token: str
    platform: str


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """Messages in ascending ``seq``; ``more`` tells whether older ones exist."""

    messages: list[StoredMessage] = field(default_factory=list)
    more: bool = False


def dm_thread_id(a: str, b: str) -> str:
    """The id of the DM thread between users ``a`` and ``b`` (``a == b``: a notes thread).

    Derived from the pair, order-free, so two devices opening the same DM at once
    meet in one thread. User ids never contain ``:`` (see ``protocol.validation``),
    so the id is unambiguous.
    """
    # A comparison, not sorted(): this runs on every send with ``to``.
    return f"dm:{a}:{b}" if a <= b else f"dm:{b}:{a}"


def failed_future(error: BaseException) -> asyncio.Future[Any]:
    """A future that already holds ``error``: how ``append_soon`` refuses at once."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_exception(error)
    return future


class Store(abc.ABC):
    """Durable storage of threads and messages. One instance per node, shared by all sessions."""

    # -- lifecycle -------------------------------------------------------------------

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, apply pending migrations when the backend is embedded, start the writer."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Commit or fail every pending append, then release connections. Idempotent."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless the database answers (readiness)."""

    # -- threads ---------------------------------------------------------------------

    @abc.abstractmethod
    async def ensure_dm(self, a: str, b: str) -> Thread:
        """Return the DM thread of ``a`` and ``b``, creating it on first use. Idempotent
        and race-free: concurrent calls for the same pair return the same thread."""

    async def create_group(self, members: Sequence[str], title: str | None = None) -> Thread:
        """Create a group thread with a fresh id and these members (duplicates collapse),
        without admins: :meth:`open_group` by the HTTP API."""
        return (await self.open_group(None, members, title, 0)).thread

    @abc.abstractmethod
    async def open_group(self, creator: str | None, members: Sequence[str],
                         title: str | None, ts: int) -> GroupChanged:
        """Create a group thread with a fresh id, ``creator`` (its first admin; None: the
        HTTP API, and no admin) and ``members`` (duplicates collapse), and its first entry
        (seq 1): a ``members`` change adding them all, by ``creator``. Records the
        creation for :meth:`groups_created_since`."""

    @abc.abstractmethod
    async def change_group(self, change: GroupChange) -> GroupChanged:
        """Commit a change to a group as the thread's next entry, or nothing when it
        changes nothing, in one transaction with the membership itself.

        Members: a user who is no admin may only remove themselves. Additions already
        members and removals of non-members are ignored. A removed member's departure is
        kept (see :meth:`messages_after`); when the last admin is removed, the
        longest-standing member left (the earliest added; ties by user id) becomes admin.

        Raise :class:`ThreadNotFound`, :class:`FixedMembers` (a DM),
        :class:`NotAMember` (``user`` not in it), :class:`NotAnAdmin`,
        :class:`GroupFull`, or :class:`StoreUnavailable`."""

    @abc.abstractmethod
    async def groups_created_since(self, user: str, ts: int) -> int:
        """How many groups ``user`` created at or after ``ts`` (epoch ms)."""

    @abc.abstractmethod
    async def get_thread(self, thread: str) -> Thread | None:
        """The thread with its current members, or None."""

    async def change_members(
        self, thread: str, add: Sequence[str] = (), remove: Sequence[str] = ()
    ) -> Thread:
        """Add then remove members of a group thread as the HTTP API; raise
        :class:`ThreadNotFound` or :class:`FixedMembers`."""
        changed = await self.change_group(
            GroupChange(thread, None, 0, add=tuple(add), remove=tuple(remove)))
        return changed.thread

    @abc.abstractmethod
    async def shares_thread(self, a: str, b: str) -> bool:
        """Whether users ``a`` and ``b`` are members of at least one common thread."""

    @abc.abstractmethod
    async def threads_of(self, user: str) -> list[ThreadSummary]:
        """Every thread ``user`` is a member of, newest activity first."""

    # -- messages --------------------------------------------------------------------

    @abc.abstractmethod
    async def append(self, message: NewMessage) -> Appended:
        """Commit a message (group commit: many appends share one transaction) and
        return it with its ``seq``, ``pos`` and ``msg``. Raise :class:`ThreadNotFound`,
        :class:`NotAMember` (sender not in the thread; None is always allowed), or
        :class:`StoreUnavailable`."""

    def append_soon(self, message: NewMessage) -> asyncio.Future[Appended]:
        """:meth:`append` as a future: the message is handed to the store now (before any
        later call's message), and the future ends as :meth:`append` would.

        For the hot path, which then needs no task per message. The default runs
        :meth:`append` in a task; a store that commits in batches returns its own future.
        """
        return asyncio.ensure_future(self.append(message))

    @abc.abstractmethod
    async def change(self, change: NewChange) -> Changed:
        """Commit a change to a message as the thread's next entry (next ``seq``, next
        ``pos``), or nothing when it changes nothing; the message's folded state moves
        in the same transaction. An unsend erases the message's body, meta and
        attachments, the bodies and meta of its edits, and its reactions.

        Raise :class:`ThreadNotFound`, :class:`NotAMember` (``user`` not in the thread),
        :class:`MessageNotFound` (no message at ``target``, or an unsent one),
        :class:`NotTheSender` (an edit or unsend by another user than the sender),
        :class:`TooManyReactions`, or :class:`StoreUnavailable`."""

    def change_soon(self, change: NewChange) -> asyncio.Future[Changed]:
        """:meth:`change` as a future: the change is handed to the store now (before any
        later call's), so one session's changes commit in the order it made them. The
        default runs :meth:`change` in a task; a store that commits in batches returns
        its own future."""
        return asyncio.ensure_future(self.change(change))

    @abc.abstractmethod
    async def is_message(self, thread: str, seq: int) -> bool:
        """Whether ``seq`` is a message of ``thread`` (unsent or not; never a change).
        A stable answer: entries are never removed."""

    @abc.abstractmethod
    async def history(self, thread: str, before: int | None, limit: int) -> HistoryPage:
        """Up to ``limit`` messages with ``seq < before`` (all when None), the newest
        such page, in ascending ``seq``, in their current state with their reactions
        folded in; change entries are not listed. Costs the same number of queries
        however many changes the page's messages had."""

    @abc.abstractmethod
    async def entries(self, thread: str, after: int, before: int) -> list[StoredMessage]:
        """Every entry of ``thread`` (messages and changes) with ``after < seq <
        before``, ascending: what fills a gap in a live stream."""

    @abc.abstractmethod
    async def messages_after(self, user: str, pos: int, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` entries (messages and changes) of ``user``'s threads with
        ``pos`` greater than ``pos``, in ascending ``pos``: the replay behind a cursor.
        A thread ``user`` was removed from counts up to the entry that removed them."""

    @abc.abstractmethod
    async def head(self) -> int:
        """The largest committed ``pos`` (0 when empty): the cursor "now"."""

    # -- read pointers ---------------------------------------------------------------

    @abc.abstractmethod
    async def mark_read(self, thread: str, user: str, seq: int) -> int:
        """Move ``user``'s read pointer in ``thread`` up to ``seq`` (never backwards,
        never past the thread's last seq) and return the pointer now stored."""

    # -- posts and likes -------------------------------------------------------------

    @abc.abstractmethod
    async def set_post_owner(self, post: str, owner: str) -> None:
        """Record (or change) who owns ``post``. Posts need no registration to be liked."""

    @abc.abstractmethod
    async def post_owner(self, post: str) -> str | None:
        """The owner of ``post``, or None when none was recorded."""

    @abc.abstractmethod
    async def set_like(self, post: str, user: str, on: bool) -> LikeChange:
        """Like (``on``) or unlike ``post`` as ``user``. Idempotent per (post, user): the
        count moves only when the state changes, and never below zero. Durable on return."""

    @abc.abstractmethod
    async def like_count(self, post: str) -> int:
        """Likes of ``post`` (0 for a post nobody liked)."""

    # -- devices (push) --------------------------------------------------------------

    @abc.abstractmethod
    async def add_device(self, user: str, token: str, platform: str) -> None:
        """Register a push token for ``user``. A token belongs to one user: registering it
        again (for the same or another user) replaces the earlier registration."""

    @abc.abstractmethod
    async def remove_device(self, token: str) -> bool:
        """Forget ``token``; True when it was registered."""

    @abc.abstractmethod
    async def devices_of(self, users: Sequence[str]) -> list[DeviceToken]:
        """Every token registered for any of ``users``."""

    # -- blocks and mutes ------------------------------------------------------------

    @abc.abstractmethod
    async def set_block(self, blocker: str, blocked: str, on: bool) -> None:
        """Record that ``blocker`` blocks (``on``) or no longer blocks ``blocked``."""

    @abc.abstractmethod
    async def blockers(self, user: str, others: Sequence[str]) -> set[str]:
        """Those of ``others`` who block ``user``."""

    @abc.abstractmethod
    async def blocked_by(self, user: str) -> set[str]:
        """The users ``user`` blocks."""

    @abc.abstractmethod
    async def set_mute(self, thread: str, user: str, until: int | bool) -> None:
        """Mute ``thread`` for member ``user``: until ``until`` (epoch ms), True (until
        unmuted) or False (unmute). Raise :class:`ThreadNotFound` or :class:`NotAMember`."""

    @abc.abstractmethod
    async def muted(self, thread: str, users: Sequence[str], now: int) -> set[str]:
        """Those of ``users`` who have ``thread`` muted at ``now`` (epoch ms)."""

    # -- presence --------------------------------------------------------------------

    @abc.abstractmethod
    async def set_last_seen(self, user: str, ts: int) -> None:
        """Remember when ``user`` was last online (epoch ms); never moves backwards."""

    @abc.abstractmethod
    async def last_seen(self, users: Sequence[str]) -> dict[str, int]:
        """``last_seen`` of those of ``users`` that were ever seen."""
