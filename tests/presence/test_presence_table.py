"""The pure presence table: transitions are reported exactly once."""

from presence.table import PresenceTable


def test_first_session_brings_a_user_online() -> None:
    table = PresenceTable()
    assert table.join("ann", "s1") is True
    assert table.online(["ann", "bob"]) == {"ann"}


def test_a_second_device_is_not_a_new_transition() -> None:
    table = PresenceTable()
    table.join("ann", "s1")
    assert table.join("ann", "s2") is False


def test_user_stays_online_until_the_last_session_leaves() -> None:
    table = PresenceTable()
    table.join("ann", "s1")
    table.join("ann", "s2")
    assert table.leave("ann", "s1") is False
    assert table.online(["ann"]) == {"ann"}
    assert table.leave("ann", "s2") is True
    assert table.online(["ann"]) == set()


def test_leaving_an_unknown_session_changes_nothing() -> None:
    table = PresenceTable()
    table.join("ann", "s1")
    assert table.leave("ann", "nope") is False
    assert table.leave("bob", "s1") is False
    assert table.sessions("ann") == {"s1"}


def test_joining_twice_with_one_session_counts_once() -> None:
    table = PresenceTable()
    table.join("ann", "s1")
    table.join("ann", "s1")
    assert table.leave("ann", "s1") is True
    assert len(table) == 0
