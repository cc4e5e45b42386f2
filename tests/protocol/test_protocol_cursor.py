"""Cursors: what they cover, their text form, and how a session's cursor moves."""

import msgspec
import pytest

from protocol.codec import JSON, MSGPACK
from protocol.cursor import MAX_EXTRA, Cursor, CursorTracker, parse_cursor
from protocol.errors import ProtocolError
from protocol.frames import Message


def test_a_plain_cursor_covers_everything_up_to_its_base() -> None:
    cursor = parse_cursor("10")
    assert cursor == Cursor(10)
    assert cursor.covers(10) and not cursor.covers(11)


def test_extras_cover_positions_above_the_base() -> None:
    cursor = parse_cursor("10.14.17")
    assert cursor.covers(14) and cursor.covers(17)
    assert not cursor.covers(12) and not cursor.covers(15)
    assert str(cursor) == "10.14.17"


@pytest.mark.parametrize("text", ["", "a", "1.", ".1", "1..2", "5.3", "5.7.6", "5.7.7", "-1",
                                  "\u0663", "1" * 20, "9223372036854775808", " 1"])
def test_malformed_cursors_are_bad_requests(text: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        parse_cursor(text, request_id=7)
    assert (refused.value.code, refused.value.request_id) == ("bad_request", 7)


def test_ordered_delivery_moves_the_base_with_each_message() -> None:
    tracker = CursorTracker(5, ordered=True)
    tracker.delivered(9)
    assert tracker.cursor == Cursor(9)


def test_unordered_delivery_lists_unsettled_positions() -> None:
    tracker = CursorTracker(5, ordered=False)
    tracker.delivered(9, settled=6)
    tracker.delivered(8, settled=6)
    assert tracker.cursor == Cursor(6, (8, 9))


def test_the_base_never_passes_what_has_not_settled() -> None:
    tracker = CursorTracker(5, ordered=False)
    tracker.delivered(11, settled=3)
    assert tracker.cursor == Cursor(5, (11,))
    tracker.advance(12)
    assert tracker.cursor == Cursor(12)


def test_a_cursor_lists_at_most_max_extra_positions() -> None:
    tracker = CursorTracker(0, ordered=False)
    for pos in range(1, MAX_EXTRA + 10):
        tracker.delivered(pos)
    cursor = tracker.cursor
    assert len(cursor.extra) == MAX_EXTRA
    assert parse_cursor(str(cursor)) == cursor


@pytest.mark.parametrize("codec", [JSON, MSGPACK], ids=["json", "msgpack"])
def test_a_field_appended_to_an_encoded_frame_decodes_as_if_encoded_with_it(codec) -> None:
    frame = Message(thread="t", seq=1, msg="1", from_="ann", body="hi", meta=None, ts=5)
    encoded = codec.with_field(codec.encode_server(frame), "cursor", "12.14")
    assert codec.decode_server(encoded) == msgspec.structs.replace(frame, cursor="12.14")
