"""The rules of a group change, judged alike by every store.

A store reads the group's members and admins inside its transaction, asks
:func:`judge` whether the change is allowed and what it does, and writes the result.
Pure: no I/O, so the SQLite and PostgreSQL stores cannot drift apart on who may do what.
"""

from __future__ import annotations

from typing import NamedTuple

from realtime.store.base import TITLE, GroupChange, GroupFull, NotAMember, NotAnAdmin


class MembershipPlan(NamedTuple):
    """What a ``members`` change does to a group."""

    added: list[str]
    """Users who join (sorted): asked for, not members yet, and not removed at once."""
    removed: list[str]
    """Members who leave (sorted)."""
    after: set[str]
    """The members once it is made."""
    needs_admin: bool
    """The last admin leaves a group that still has members: the longest-standing
    member left is to become admin (the store knows who that is)."""


def judge(change: GroupChange, current: set[str], admins: set[str]) -> MembershipPlan | None:
    """Raise if ``change.user`` may not make ``change`` to a group with members
    ``current`` and admins ``admins``; else, for a ``members`` change, what it does
    (None for a title change, or for a change that changes nothing).

    ``change.user`` None is the HTTP API, which may do anything. Anyone may remove
    themselves; only an admin adds, removes others, or renames.
    """
    user = change.user
    if user is not None and user not in current:
        raise NotAMember(f"{user} is not a member of {change.thread}")
    if change.kind == TITLE:
        if user is not None and user not in admins:
            raise NotAnAdmin("only an admin may rename a group")
        return None
    if user is not None and user not in admins and (
            change.add or set(change.remove) - {user}):
        raise NotAnAdmin("only an admin may add members or remove others")
    removing = set(change.remove)
    added = sorted(set(change.add) - current - removing)
    removed = sorted(removing & current)
    if not added and not removed:
        return None
    after = (current | set(added)) - set(removed)
    if added and change.max_members and len(after) > change.max_members:
        raise GroupFull(f"a group has at most {change.max_members} members")
    needs_admin = bool(admins) and not admins - set(removed) and bool(after)
    return MembershipPlan(added, removed, after, needs_admin)
