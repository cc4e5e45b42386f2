"""Cursors at their edges: the multi-node branches of the tracker (a message at the base,
marks dropped for room), position 0, an empty list of marks, a cursor at "now"."""

import base64

import msgspec
import pytest

from protocol.cursor import (
    INT64_MAX,
    MAX_MARKS,
    Cursor,
    CursorTracker,
    format_cursor,
    parse_cursor,
)
from protocol.errors import ErrorCode, ProtocolError


def test_in_a_cluster_a_message_at_the_base_is_not_marked() -> None:
    tracker = CursorTracker(5, ordered=False)
    tracker.delivered("t", 1, 5)
    assert tracker.text == "5"


def test_in_a_cluster_the_base_follows_settled_only_upwards() -> None:
    tracker = CursorTracker(5, ordered=False)
    tracker.delivered("t", 1, 7, settled=3)
    assert tracker.cursor.base == 5
    tracker.advance(7)
    assert tracker.text == "7"


def test_the_text_after_marks_are_dropped_for_room_names_the_marks_kept() -> None:
    tracker = CursorTracker(0, ordered=False)
    for i in range(MAX_MARKS + 1):
        tracker.delivered(f"t{i}", 1, i + 1)
    cursor = parse_cursor(tracker.text)
    assert len(cursor.marks) == MAX_MARKS and cursor == tracker.cursor


def test_on_one_node_the_base_never_moves_back() -> None:
    tracker = CursorTracker(9, ordered=True)
    tracker.delivered("t", 1, 4)
    assert tracker.text == "9"


def test_position_zero_and_the_largest_position_are_cursors() -> None:
    assert format_cursor(0) == "0"
    assert format_cursor(INT64_MAX) == str(INT64_MAX)
    with pytest.raises(ValueError):
        format_cursor(-1)
    with pytest.raises(ValueError):
        format_cursor(INT64_MAX + 1)


def test_a_cursor_past_the_largest_position_is_out_of_range_with_its_request_id() -> None:
    with pytest.raises(ProtocolError) as raised:
        parse_cursor(str(INT64_MAX + 1), 7)
    assert raised.value.code is ErrorCode.BAD_REQUEST
    assert raised.value.request_id == 7
    assert parse_cursor(str(INT64_MAX)).base == INT64_MAX


def test_an_empty_list_of_marks_is_malformed_and_names_the_request() -> None:
    payload = base64.urlsafe_b64encode(msgspec.msgpack.encode([])).rstrip(b"=").decode()
    with pytest.raises(ProtocolError) as raised:
        parse_cursor(f"5~{payload}", "req")
    assert raised.value.message == "malformed cursor" and raised.value.request_id == "req"


def test_a_cursor_at_now_is_kept_as_it_is() -> None:
    cursor = Cursor(5)
    assert cursor.clamped(5) is cursor
    assert cursor.clamped(4) == Cursor(4)
