"""Validation of decoded client frames against the contract and the limits."""

from __future__ import annotations

import datetime
from typing import Any

import msgspec
import pytest

from protocol import (
    USER_ID_PATTERN,
    Device,
    ErrorCode,
    History,
    Like,
    Limits,
    ListThreads,
    Ping,
    ProtocolError,
    Read,
    Refresh,
    Send,
    Subscribe,
    Sync,
    Typing,
    Unsubscribe,
    format_cursor,
    is_user_id,
    parse_cursor,
    parse_topic,
    validate,
)

LIMITS = Limits()


def rejection(frame: Any, limits: Limits = LIMITS) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        validate(frame, limits)
    return info.value


def send(**fields: Any) -> Send:
    values: dict[str, Any] = dict(thread="t1", cid="c1", body="hello", id=9)
    values.update(fields)
    return Send(**values)


# Request ids


def test_error_carries_the_request_id() -> None:
    assert rejection(Read(thread="t", seq=-1, id="r-1")).request_id == "r-1"


def test_request_id_of_64_characters_is_accepted() -> None:
    frame = Ping(id="r" * 64)
    assert validate(frame, LIMITS) is frame


def test_request_id_longer_than_64_characters_is_bad_request_without_echo() -> None:
    error = rejection(Ping(id="r" * 65))
    assert error.code is ErrorCode.BAD_REQUEST
    assert error.request_id is None


# Identifiers


@pytest.mark.parametrize("user", ["a", "alice", "A.b_c-d+e@f", "u" * 64, "0123"])
def test_valid_user_ids(user: str) -> None:
    assert is_user_id(user)
    assert USER_ID_PATTERN.fullmatch(user)


@pytest.mark.parametrize("user", ["", "u" * 65, "a:b", "a b", "a/b", "é", "a\n", 5, None])
def test_invalid_user_ids(user: object) -> None:
    assert not is_user_id(user)


@pytest.mark.parametrize("thread", ["", "t" * 129, "a b", "a\tb", "\x7f", "é", "t\n"])
def test_send_to_an_invalid_thread_id_is_bad_request(thread: str) -> None:
    assert rejection(send(thread=thread)).code is ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("thread", ["t", "dm:alice:bob", "!~{}", "t" * 128])
def test_send_to_a_valid_thread_id_is_accepted(thread: str) -> None:
    frame = send(thread=thread)
    assert validate(frame, LIMITS) is frame


# Send


def test_send_with_both_thread_and_to_is_bad_request() -> None:
    error = rejection(send(thread="t", to="bob"))
    assert error.code is ErrorCode.BAD_REQUEST
    assert error.message == "send needs exactly one of thread or to"


def test_send_with_neither_thread_nor_to_is_bad_request() -> None:
    error = rejection(send(thread=None))
    assert error.message == "send needs exactly one of thread or to"


def test_send_to_a_user_is_accepted() -> None:
    frame = send(thread=None, to="bob")
    assert validate(frame, LIMITS) is frame


def test_send_to_an_invalid_user_id_is_bad_request() -> None:
    assert rejection(send(thread=None, to="dm:bob")).code is ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("cid", ["", "c" * 129])
def test_send_with_cid_outside_1_to_128_characters_is_bad_request(cid: str) -> None:
    assert rejection(send(cid=cid)).code is ErrorCode.BAD_REQUEST


def test_send_with_cid_of_128_characters_is_accepted() -> None:
    assert validate(send(cid="c" * 128), LIMITS).cid == "c" * 128


def test_body_at_the_limit_is_accepted() -> None:
    frame = send(body="x" * LIMITS.max_body)
    assert validate(frame, LIMITS) is frame


def test_body_over_the_limit_is_too_large() -> None:
    error = rejection(send(body="x" * (LIMITS.max_body + 1)))
    assert error.code is ErrorCode.TOO_LARGE
    assert error.request_id == 9


def test_body_size_counts_utf8_bytes() -> None:
    limits = Limits(max_body=4)
    assert validate(send(body="éé"), limits).body == "éé"
    assert rejection(send(body="ééé"), limits).code is ErrorCode.TOO_LARGE


def test_empty_body_is_accepted() -> None:
    assert validate(send(body=""), LIMITS).body == ""


def test_body_with_a_lone_surrogate_is_bad_request() -> None:
    assert rejection(send(body="\udc00")).code is ErrorCode.BAD_REQUEST


def test_meta_at_the_limit_is_accepted() -> None:
    meta = {"k": "x" * (LIMITS.max_meta - len(b'{"k":""}'))}
    assert len(msgspec.json.encode(meta)) == LIMITS.max_meta
    assert validate(send(meta=meta), LIMITS).meta == meta


def test_meta_over_the_limit_is_too_large() -> None:
    meta = {"k": "x" * (LIMITS.max_meta - len(b'{"k":""}') + 1)}
    assert rejection(send(meta=meta)).code is ErrorCode.TOO_LARGE


@pytest.mark.parametrize(
    "value",
    [
        b"raw",
        msgspec.msgpack.Ext(1, b""),
        datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
        float("nan"),
        float("inf"),
        2**63,
        {1: "non-string key"},
        [[{"deep": b"bytes"}]],
    ],
)
def test_meta_holding_a_non_json_value_is_bad_request(value: object) -> None:
    assert rejection(send(meta={"k": value})).code is ErrorCode.BAD_REQUEST


def test_meta_holding_nested_json_values_is_accepted() -> None:
    meta = {"a": [1, 2.5, None, True, "s", {"b": []}]}
    assert validate(send(meta=meta), LIMITS).meta == meta


# Read


def test_read_with_negative_seq_is_bad_request() -> None:
    assert rejection(Read(thread="t", seq=-1)).code is ErrorCode.BAD_REQUEST


def test_read_with_seq_zero_is_accepted() -> None:
    frame = Read(thread="t", seq=0)
    assert validate(frame, LIMITS) is frame


def test_read_with_an_invalid_thread_is_bad_request() -> None:
    assert rejection(Read(thread="", seq=1)).code is ErrorCode.BAD_REQUEST


# History


@pytest.mark.parametrize("before", [0, -1])
def test_history_before_below_one_is_bad_request(before: int) -> None:
    assert rejection(History(thread="t", before=before)).code is ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("limit", [0, -5])
def test_history_limit_below_one_is_bad_request(limit: int) -> None:
    assert rejection(History(thread="t", limit=limit)).code is ErrorCode.BAD_REQUEST


def test_history_limit_above_the_maximum_is_clamped() -> None:
    frame = validate(History(thread="t", limit=10_000, id=2), LIMITS)
    assert frame == History(thread="t", limit=LIMITS.max_history, id=2)


def test_history_limit_at_the_maximum_is_kept() -> None:
    frame = History(thread="t", before=1, limit=LIMITS.max_history)
    assert validate(frame, LIMITS) is frame


def test_history_with_an_invalid_thread_is_bad_request() -> None:
    assert rejection(History(thread="a b")).code is ErrorCode.BAD_REQUEST


# Typing, like, subscriptions


def test_typing_with_an_invalid_thread_is_bad_request() -> None:
    assert rejection(Typing(thread="", on=True)).code is ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("post", ["", "p" * 129, "p/1", "p 1"])
def test_like_with_an_invalid_post_id_is_bad_request(post: str) -> None:
    assert rejection(Like(post=post, on=True)).code is ErrorCode.BAD_REQUEST


def test_like_with_a_post_id_holding_colons_is_accepted() -> None:
    frame = Like(post="blog:2024:p" + "p" * 117, on=False)
    assert validate(frame, LIMITS) is frame


@pytest.mark.parametrize("frame_type", [Subscribe, Unsubscribe])
@pytest.mark.parametrize("topic", ["post:p1", "post:a:b", "presence:alice"])
def test_valid_topics_are_accepted(frame_type: type[Subscribe], topic: str) -> None:
    frame = frame_type(topic=topic)
    assert validate(frame, LIMITS) is frame


@pytest.mark.parametrize("frame_type", [Subscribe, Unsubscribe])
@pytest.mark.parametrize(
    "topic", ["", "post", "post:", "presence:", "presence:a:b", "user:alice", "p1"]
)
def test_invalid_topics_are_bad_request(frame_type: type[Subscribe], topic: str) -> None:
    assert rejection(frame_type(topic=topic)).code is ErrorCode.BAD_REQUEST


def test_parse_topic_splits_kind_and_target() -> None:
    assert parse_topic("post:a:b") == ("post", "a:b")
    assert parse_topic("presence:alice") == ("presence", "alice")


# Device, refresh


@pytest.mark.parametrize("platform", ["android", "ios", "web"])
def test_device_on_a_known_platform_is_accepted(platform: str) -> None:
    frame = Device(token="tok", platform=platform)
    assert validate(frame, LIMITS) is frame


@pytest.mark.parametrize("platform", ["", "windows", "IOS"])
def test_device_on_an_unknown_platform_is_bad_request(platform: str) -> None:
    assert rejection(Device(token="tok", platform=platform)).code is ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("token", ["", "t" * 4097])
def test_device_token_outside_1_to_4096_characters_is_bad_request(token: str) -> None:
    assert rejection(Device(token=token, platform="web")).code is ErrorCode.BAD_REQUEST


def test_device_token_of_4096_characters_is_accepted() -> None:
    assert validate(Device(token="t" * 4096, platform="ios"), LIMITS).platform == "ios"


@pytest.mark.parametrize("token", ["", "t" * 8193])
def test_refresh_token_outside_1_to_8192_characters_is_bad_request(token: str) -> None:
    assert rejection(Refresh(token=token)).code is ErrorCode.BAD_REQUEST


def test_refresh_token_of_8192_characters_is_accepted() -> None:
    frame = Refresh(token="t" * 8192)
    assert validate(frame, LIMITS) is frame


# Sync and cursors


@pytest.mark.parametrize("cursor", [None, "0", "42", "9223372036854775807"])
def test_sync_with_a_valid_cursor_is_accepted(cursor: str | None) -> None:
    frame = Sync(cursor=cursor)
    assert validate(frame, LIMITS) is frame


@pytest.mark.parametrize(
    "cursor", ["", "-1", "5.1", " 1", "abc", "٣", "1" * 21, "9223372036854775808"]
)
def test_sync_with_an_invalid_cursor_is_bad_request(cursor: str) -> None:
    error = rejection(Sync(cursor=cursor, id=5))
    assert error.code is ErrorCode.BAD_REQUEST
    assert error.request_id == 5


def test_cursor_round_trips() -> None:
    assert parse_cursor(format_cursor(1234)).base == 1234


def test_format_cursor_refuses_a_negative_position() -> None:
    with pytest.raises(ValueError):
        format_cursor(-1)


# Frames without rules


@pytest.mark.parametrize("frame", [ListThreads(id=1), Ping()])
def test_frames_without_fields_are_accepted(frame: Any) -> None:
    assert validate(frame, LIMITS) is frame


def test_welcome_limits_name_the_contract_keys() -> None:
    assert Limits().as_welcome() == {
        "max_frame": 65536,
        "max_body": 16384,
        "max_meta": 4096,
        "rate": 20.0,
        "burst": 100,
        "max_sessions": 10,
        "max_queue": 1048576,
        "max_group": 256,
        "max_title": 100,
    }
