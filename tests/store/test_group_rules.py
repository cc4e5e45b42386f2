"""The rules of a group change, as every store judges them (realtime/store/group_rules.py)."""

from __future__ import annotations

import pytest

from realtime.store.base import TITLE, GroupChange, GroupFull, NotAMember, NotAnAdmin
from realtime.store.group_rules import judge

MEMBERS = {"ann", "ben", "cy"}
ADMINS = {"ann"}


def change(user: str | None, **fields: object) -> GroupChange:
    return GroupChange(thread="g:1", user=user, ts=1, **fields)  # type: ignore[arg-type]


def test_a_non_member_may_change_nothing() -> None:
    with pytest.raises(NotAMember):
        judge(change("dee", remove=("dee",)), MEMBERS, ADMINS)


def test_only_an_admin_renames() -> None:
    with pytest.raises(NotAnAdmin):
        judge(change("ben", kind=TITLE, title="x"), MEMBERS, ADMINS)
    assert judge(change("ann", kind=TITLE, title="x"), MEMBERS, ADMINS) is None


def test_a_member_may_remove_only_themselves() -> None:
    with pytest.raises(NotAnAdmin):
        judge(change("ben", remove=("cy",)), MEMBERS, ADMINS)
    plan = judge(change("ben", remove=("ben",)), MEMBERS, ADMINS)
    assert plan is not None and plan.removed == ["ben"] and plan.after == {"ann", "cy"}


def test_the_http_api_may_do_anything() -> None:
    plan = judge(change(None, add=("dee",), remove=("ann",)), MEMBERS, ADMINS)
    assert plan is not None and (plan.added, plan.removed) == (["dee"], ["ann"])


def test_adding_members_already_there_changes_nothing() -> None:
    assert judge(change("ann", add=("ben",)), MEMBERS, ADMINS) is None


def test_a_user_both_added_and_removed_is_not_added() -> None:
    assert judge(change("ann", add=("dee",), remove=("dee",)), MEMBERS, ADMINS) is None


def test_a_group_cannot_grow_past_its_bound_but_may_reach_it() -> None:
    assert judge(change("ann", add=("dee",), max_members=4), MEMBERS, ADMINS) is not None
    with pytest.raises(GroupFull):
        judge(change("ann", add=("dee", "eve"), max_members=4), MEMBERS, ADMINS)


def test_the_last_admin_leaving_a_group_with_members_needs_a_new_admin() -> None:
    plan = judge(change("ann", remove=("ann",)), MEMBERS, ADMINS)
    assert plan is not None and plan.needs_admin


def test_no_new_admin_while_another_admin_stays_or_nobody_is_left() -> None:
    plan = judge(change("ann", remove=("ann",)), MEMBERS, {"ann", "ben"})
    assert plan is not None and not plan.needs_admin
    plan = judge(change("ann", remove=("ann",)), {"ann"}, ADMINS)
    assert plan is not None and not plan.needs_admin and plan.after == set()
