"""What a session does for groups and personal controls: ``create``, ``members``,
``leave``, ``rename``, ``block`` and ``mute``.

Each handler commits through :class:`realtime.services.groups.GroupService`, which
publishes the entry to every member's sessions but this one; this device gets the ack,
and has the entry through it (not a gap for its feed). A device whose user the change
removed gets nothing more of the thread from then on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from protocol.frames import Ack, Block, Create, Leave, Members, Mute, Rename
from realtime.store.base import GroupChanged

if TYPE_CHECKING:
    from realtime.session import Session


def _acked(session: Session, changed: GroupChanged) -> None:
    """This device has the entry through its ack; one that removed its own user is out."""
    entry = changed.entry
    if entry is None:
        return
    session.feed.acked(entry.thread, entry.seq)
    if entry.meta is not None and session.user in entry.meta.get("removed", ()):
        session.departed(entry.thread, entry.seq)


async def on_create(session: Session, frame: Create) -> None:
    made = await session.services.groups.create(session.user, frame.members, frame.title,
                                                origin=session.id)
    _acked(session, made)
    session.send(Ack(id=frame.id, thread=made.thread.id))


async def on_members(session: Session, frame: Members) -> None:
    changed = await session.services.groups.change_members(
        session.user, frame.thread, frame.add, frame.remove, origin=session.id)
    _acked(session, changed)
    session.send(Ack(id=frame.id, thread=frame.thread, members=list(changed.thread.members)))


async def on_leave(session: Session, frame: Leave) -> None:
    changed = await session.services.groups.leave(session.user, frame.thread,
                                                  origin=session.id)
    _acked(session, changed)
    session.send(Ack(id=frame.id, thread=frame.thread))


async def on_rename(session: Session, frame: Rename) -> None:
    changed = await session.services.groups.rename(session.user, frame.thread, frame.title,
                                                   origin=session.id)
    _acked(session, changed)
    session.send(Ack(id=frame.id, thread=frame.thread))


async def on_block(session: Session, frame: Block) -> None:
    await session.services.groups.block(session.user, frame.user, frame.on)
    session.send(Ack(id=frame.id))


async def on_mute(session: Session, frame: Mute) -> None:
    await session.services.groups.mute(session.user, frame.thread, frame.on, frame.until)
    session.send(Ack(id=frame.id, thread=frame.thread))


CONTROL_HANDLERS: dict[type, Callable[[Session, Any], Awaitable[None]]] = {
    Create: on_create,
    Members: on_members,
    Leave: on_leave,
    Rename: on_rename,
    Block: on_block,
    Mute: on_mute,
}
