"""Push builders: payload size, string-only data, collapse keys."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from push.messages import (
    COLLAPSE_KEY_MAX,
    ELLIPSIS,
    PAYLOAD_BUDGET,
    PushMessage,
    for_chat_message,
    for_like,
    for_notification,
    payload_size,
    truncate,
)


def size(content: object) -> int:
    return payload_size(content.title, content.body, content.data)  # type: ignore[attr-defined]


def test_a_chat_push_names_its_kind_thread_and_sender() -> None:
    content = for_chat_message("t1", "alice", "hello", 3)
    assert content.title == "alice"
    assert content.body == "hello"
    assert content.data == {"kind": "message", "thread": "t1", "unread": "3", "sender": "alice"}
    assert content.collapse_key == "t:t1"
    assert content.high_priority


def test_a_system_message_push_has_a_title_and_no_sender() -> None:
    content = for_chat_message("t1", None, "welcome", 1)
    assert content.title
    assert "sender" not in content.data


def test_a_huge_multibyte_body_is_cut_to_a_short_preview_on_a_character_boundary() -> None:
    content = for_chat_message("t1", "alice", "日本語🙂" * 10_000, 1)
    assert content.body.endswith(ELLIPSIS)
    assert len(content.body.encode("utf-8")) <= 240
    assert content.body.encode("utf-8").decode("utf-8") == content.body
    assert size(content) <= PAYLOAD_BUDGET


@given(
    thread=st.text(min_size=1, max_size=300),
    sender=st.text(max_size=2000),
    body=st.text(max_size=20_000),
)
def test_every_chat_push_stays_under_the_payload_budget(
    thread: str, sender: str, body: str
) -> None:
    content = for_chat_message(thread, sender, body, 7)
    assert size(content) < 4096
    assert len((content.collapse_key or "").encode("utf-8")) <= COLLAPSE_KEY_MAX


def test_a_like_push_names_post_user_and_count_as_strings() -> None:
    content = for_like("p1", "bob", 12)
    assert content.data == {"kind": "like", "post": "p1", "user": "bob", "count": "12"}
    assert content.collapse_key == "p:p1"
    assert not content.high_priority


def test_notification_data_values_become_strings() -> None:
    content = for_notification("n1", "Hi", "there", {"a": 1, "b": [1, 2], "c": "x", "d": None})
    assert content.data == {
        "a": "1", "b": "[1,2]", "c": "x", "d": "null", "kind": "notification", "nid": "n1",
    }  # fmt: skip
    assert all(isinstance(value, str) for value in content.data.values())


def test_a_notifications_own_kind_is_kept() -> None:
    assert for_notification("n1", "Hi", "x", {"kind": "like"}).data["kind"] == "like"


def test_notification_data_too_large_is_left_out_and_marked() -> None:
    content = for_notification("n1", "Hi", "there", {"blob": "x" * 10_000})
    assert content.data == {"kind": "notification", "nid": "n1", "truncated": "1"}
    assert size(content) <= PAYLOAD_BUDGET


def test_a_long_thread_id_gets_a_hashed_collapse_key_of_bounded_size() -> None:
    one = for_chat_message("x" * 500, "a", "b", 1).collapse_key
    other = for_chat_message("x" * 499 + "y", "a", "b", 1).collapse_key
    assert one != other
    assert len(str(one).encode()) <= COLLAPSE_KEY_MAX


def test_truncate_counts_json_escapes_and_never_splits_a_character() -> None:
    assert truncate("abc", 3) == "abc"
    assert truncate('""""', 5) == '"' + ELLIPSIS  # each quote costs 2 escaped bytes
    assert truncate("🙂🙂", 6) == ELLIPSIS  # the emoji takes 4 bytes, the ellipsis 3


def test_a_lone_surrogate_does_not_break_the_payload() -> None:
    content = for_chat_message("t1", "alice", "bad \ud800 text", 1)
    content.body.encode("utf-8")


def test_a_message_survives_its_json_form() -> None:
    message = for_chat_message("t1", "alice", "hello", 2).to("device")
    assert PushMessage.from_json(message.to_json()) == message
