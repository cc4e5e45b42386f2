"""Cursors: what they cover, their text form, and how a session's cursor moves."""

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.codec import JSON, MSGPACK
from protocol.cursor import MAX_MARKS, Cursor, CursorTracker, Mark, parse_cursor
from protocol.errors import ProtocolError
from protocol.frames import Message


def test_a_plain_cursor_covers_everything_up_to_its_base() -> None:
    cursor = parse_cursor("10")
    assert cursor == Cursor(10)
    assert cursor.covers("t", 99, 10) and not cursor.covers("t", 1, 11)


def test_a_mark_covers_its_thread_up_to_its_seq_whatever_the_positions() -> None:
    cursor = Cursor(10, (Mark("g:a", 7, 40),))
    assert cursor.covers("g:a", 7, 40) and cursor.covers("g:a", 3, 25)
    assert not cursor.covers("g:a", 8, 41)
    assert not cursor.covers("dm:x:y", 1, 12)


def test_a_cursor_with_marks_round_trips_through_its_text() -> None:
    cursor = Cursor(10, (Mark("g:a", 7, 40), Mark("dm:ann:bob", 3, 33)))
    text = str(cursor)
    assert "~" in text and all(c.isalnum() or c in "~_-" for c in text)
    assert parse_cursor(text) == cursor


@pytest.mark.parametrize("text", ["", "a", "-1", " 1", "1~", "1~!!", "1~AAAA", "\u0663",
                                  "1" * 20, "9223372036854775808"])
def test_malformed_cursors_are_bad_requests(text: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        parse_cursor(text, request_id=7)
    assert (refused.value.code, refused.value.request_id) == ("bad_request", 7)


@pytest.mark.parametrize("marks", [
    [("t", 1, 5)],            # a mark at or below the base says nothing
    [("t", 0, 20)],           # seqs start at 1
    [("t", 1, 20), ("t", 2, 21)],  # one mark per thread
    [("has space", 1, 20)],   # not a thread id
    [(f"t{i}", 1, 20 + i) for i in range(MAX_MARKS + 1)],
])
def test_cursors_with_impossible_marks_are_bad_requests(marks: list[tuple[str, int, int]]) -> None:
    import base64

    payload = base64.urlsafe_b64encode(msgspec.msgpack.encode(marks)).rstrip(b"=").decode()
    with pytest.raises(ProtocolError):
        parse_cursor(f"10~{payload}")


def test_ordered_delivery_moves_the_base_with_each_message() -> None:
    tracker = CursorTracker(5, ordered=True)
    tracker.delivered("t", 1, 9)
    assert tracker.cursor == Cursor(9)


def test_unordered_delivery_marks_each_thread_above_the_settled_base() -> None:
    tracker = CursorTracker(5, ordered=False)
    tracker.delivered("a", 1, 9, settled=6)
    tracker.delivered("b", 4, 8, settled=6)
    tracker.delivered("a", 2, 12, settled=6)
    assert tracker.cursor == Cursor(6, (Mark("a", 2, 12), Mark("b", 4, 8)))


def test_a_burst_in_one_thread_stays_one_mark() -> None:
    tracker = CursorTracker(0, ordered=False)
    for seq in range(1, 1001):
        tracker.delivered("hot", seq, 100 + seq)
    assert tracker.cursor == Cursor(0, (Mark("hot", 1000, 1100),))


def test_the_base_drops_the_marks_it_passes() -> None:
    tracker = CursorTracker(5, ordered=False)
    tracker.delivered("a", 1, 11, settled=3)
    tracker.delivered("b", 1, 20, settled=3)
    tracker.advance(12)
    assert tracker.cursor == Cursor(12, (Mark("b", 1, 20),))


def test_a_cursor_marks_at_most_max_marks_threads() -> None:
    tracker = CursorTracker(0, ordered=False)
    for i in range(MAX_MARKS + 5):
        tracker.delivered(f"t{i}", 1, i + 1)
    cursor = tracker.cursor
    assert len(cursor.marks) == MAX_MARKS
    assert min(m.pos for m in cursor.marks) == 6  # the furthest behind went first
    assert parse_cursor(str(cursor)) == cursor


@pytest.mark.parametrize("codec", [JSON, MSGPACK], ids=["json", "msgpack"])
def test_a_field_appended_to_an_encoded_frame_decodes_as_if_encoded_with_it(codec) -> None:
    frame = Message(thread="t", seq=1, msg="1", from_="ann", body="hi", meta=None, ts=5)
    encoded = codec.with_field(codec.encode_server(frame), "cursor", "12~abc")
    assert codec.decode_server(encoded) == msgspec.structs.replace(frame, cursor="12~abc")


def test_the_trackers_text_follows_every_change() -> None:
    tracker = CursorTracker(5, ordered=False)
    assert tracker.text == "5"
    tracker.delivered("a", 1, 9, settled=6)
    assert parse_cursor(tracker.text) == tracker.cursor
    tracker.delivered("a", 2, 12, settled=6)
    assert parse_cursor(tracker.text) == tracker.cursor
    tracker.advance(20)
    assert tracker.text == "20"
    tracker.reset(Cursor(3, (Mark("b", 1, 4),)))
    assert parse_cursor(tracker.text) == Cursor(3, (Mark("b", 1, 4),))


@given(st.integers(0, 1000), st.lists(st.tuples(st.integers(1, 50), st.integers(1, 1000)),
                                      max_size=5, unique_by=lambda t: t[0]),
       st.integers(0, 2000))
def test_a_clamped_cursor_names_nothing_beyond_head_and_keeps_what_lies_below(
        base: int, marks: list[tuple[int, int]], head: int) -> None:
    cursor = Cursor(base, tuple(Mark(f"t{t}", 1, base + pos) for t, pos in marks))
    clamped = cursor.clamped(head)
    assert clamped.high <= head
    if cursor.high <= head:
        assert clamped == cursor
    for mark in cursor.marks:
        if base <= head and mark.pos <= head:
            assert mark in clamped.marks
