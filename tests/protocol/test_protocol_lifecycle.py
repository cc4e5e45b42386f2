"""The message lifecycle's frames: edit, unsend, react, and send's reply_to and attachments.

Every bad input gets ``bad_request`` (or ``too_large`` for sizes) carrying the request
id; the codecs carry the new frames both ways.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from protocol import (
    JSON,
    MSGPACK,
    Ack,
    Attachment,
    Codec,
    Edit,
    ErrorCode,
    Limits,
    Message,
    ProtocolError,
    React,
    Send,
    Unsend,
    Update,
    validate,
)

LIMITS = Limits()
CODECS = [JSON, MSGPACK]


def rejection(frame: Any, limits: Limits = LIMITS) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        validate(frame, limits)
    assert info.value.request_id == 7
    return info.value


def photo(**fields: Any) -> Attachment:
    values: dict[str, Any] = dict(url="https://cdn.example.com/p/1.jpg", type="image/jpeg",
                                  size=1234)
    values.update(fields)
    return Attachment(**values)


def send(**fields: Any) -> Send:
    values: dict[str, Any] = dict(thread="t1", cid="c1", body="hi", id=7)
    values.update(fields)
    return Send(**values)


# send: reply_to and attachments


def test_a_send_with_a_reply_and_attachments_is_valid() -> None:
    full = photo(name="beach.jpg", width=800, height=600, duration_ms=0,
                 thumb="https://cdn.example.com/p/1-small.jpg")
    frame = send(reply_to=3, attachments=[full, photo(type="application/pdf", size=0)])
    assert validate(frame, LIMITS) is frame


@pytest.mark.parametrize("reply_to", [0, -1])
def test_reply_to_must_be_a_positive_seq(reply_to: int) -> None:
    assert rejection(send(reply_to=reply_to)).code is ErrorCode.BAD_REQUEST


def test_ten_attachments_are_accepted_and_eleven_refused() -> None:
    small = photo(url="https://a.b/x")
    assert validate(send(attachments=[small] * 10), LIMITS)
    error = rejection(send(attachments=[small] * 11))
    assert error.code is ErrorCode.BAD_REQUEST
    assert "at most 10" in error.message


@pytest.mark.parametrize("url", [
    "http://cdn.example.com/1.jpg",
    "ftp://cdn.example.com/1.jpg",
    "https://",
    "https:///path",
    "https://host/with space",
    "https://host/\nnewline",
    "javascript:alert(1)",
    "cdn.example.com/1.jpg",
    "https://" + "a" * 2048,
])
def test_attachment_url_must_be_https(url: str) -> None:
    error = rejection(send(attachments=[photo(url=url)]))
    assert error.code is ErrorCode.BAD_REQUEST
    assert "url" in error.message


def test_attachment_thumb_must_be_https() -> None:
    error = rejection(send(attachments=[photo(thumb="http://cdn.example.com/t.jpg")]))
    assert "thumb" in error.message


@pytest.mark.parametrize("mime", ["", "image", "image/", "/jpeg", "image/jpeg; q=1",
                                  "image jpeg", "ima ge/jpeg", "x/" + "y" * 200])
def test_attachment_type_must_be_a_mime_type(mime: str) -> None:
    error = rejection(send(attachments=[photo(type=mime)]))
    assert "type" in error.message


@pytest.mark.parametrize("field", ["size", "width", "height", "duration_ms"])
def test_attachment_sizes_must_not_be_negative(field: str) -> None:
    error = rejection(send(attachments=[photo(**{field: -1})]))
    assert field in error.message


@pytest.mark.parametrize("name", ["", "n" * 256, "a\x00b"])
def test_attachment_name_is_checked(name: str) -> None:
    error = rejection(send(attachments=[photo(name=name)]))
    assert "name" in error.message


def test_attachments_count_against_the_meta_limit() -> None:
    limits = Limits(max_meta=200)
    many = [photo(url="https://a.b/" + "x" * 60)] * 3
    error = rejection(send(attachments=many), limits)
    assert error.code is ErrorCode.TOO_LARGE


def test_attachments_and_meta_together_count_against_the_meta_limit() -> None:
    limits = Limits(max_meta=90)
    one = [photo(url="https://a.b/c")]
    assert validate(send(attachments=one), limits)
    assert validate(send(meta={"k": "v" * 40}), limits)
    error = rejection(send(attachments=one, meta={"k": "v" * 40}), limits)
    assert error.code is ErrorCode.TOO_LARGE


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("field,value", [
    ("size", 2**63), ("size", "12"), ("size", 1.5), ("width", True), ("url", 5),
    ("type", None),
])
def test_attachment_field_types_are_checked_by_the_codec(codec: Codec, field: str,
                                                         value: Any) -> None:
    attachment = {"url": "https://a.b/c", "type": "image/png", "size": 1, field: value}
    raw = {"type": "send", "id": 7, "thread": "t", "cid": "c", "body": "",
           "attachments": [attachment]}
    data = msgspec.json.encode(raw) if codec is JSON else msgspec.msgpack.encode(raw)
    with pytest.raises(ProtocolError) as info:
        codec.decode_client(data)
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert info.value.request_id == 7


@pytest.mark.parametrize("codec", CODECS)
def test_attachments_must_be_a_list_of_maps(codec: Codec) -> None:
    raw = {"type": "send", "id": 7, "thread": "t", "cid": "c", "body": "",
           "attachments": {"url": "https://a.b/c"}}
    data = msgspec.json.encode(raw) if codec is JSON else msgspec.msgpack.encode(raw)
    with pytest.raises(ProtocolError):
        codec.decode_client(data)


# edit, unsend, react


@pytest.mark.parametrize("frame", [
    Edit(thread="t", seq=0, body="x", id=7),
    Unsend(thread="t", seq=-3, id=7),
    React(thread="t", seq=0, emoji="👍", on=True, id=7),
])
def test_the_target_seq_must_be_positive(frame: Any) -> None:
    assert "seq" in rejection(frame).message


@pytest.mark.parametrize("frame", [
    Edit(thread="bad thread", seq=1, body="x", id=7),
    Unsend(thread="", seq=1, id=7),
    React(thread="t\x01", seq=1, emoji="👍", on=True, id=7),
])
def test_the_thread_id_is_checked(frame: Any) -> None:
    assert "thread" in rejection(frame).message


def test_an_edit_body_over_the_limit_is_too_large() -> None:
    error = rejection(Edit(thread="t", seq=1, body="x" * 17, id=7), Limits(max_body=16))
    assert error.code is ErrorCode.TOO_LARGE


def test_an_edit_meta_over_the_limit_is_too_large() -> None:
    error = rejection(Edit(thread="t", seq=1, body="", meta={"k": "v" * 50}, id=7),
                      Limits(max_meta=16))
    assert error.code is ErrorCode.TOO_LARGE


def test_an_edit_body_with_nul_is_refused() -> None:
    assert "U+0000" in rejection(Edit(thread="t", seq=1, body="a\x00", id=7)).message


@pytest.mark.parametrize("emoji", ["👍", "❤️", "👨‍👩‍👧‍👦", "+1", "x" * 32])
def test_reaction_emoji_of_up_to_32_bytes_are_accepted(emoji: str) -> None:
    frame = React(thread="t", seq=1, emoji=emoji, on=True, id=7)
    assert validate(frame, LIMITS) is frame


@pytest.mark.parametrize("emoji", ["", "x" * 33, "👍" * 9, " ", "a b", "\x00", "\n"])
def test_reaction_emoji_must_be_short_and_visible(emoji: str) -> None:
    assert "emoji" in rejection(React(thread="t", seq=1, emoji=emoji, on=True, id=7)).message


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("raw", [
    {"type": "edit", "id": 7, "thread": "t", "seq": "1", "body": "x"},
    {"type": "edit", "id": 7, "thread": "t", "seq": 1},
    {"type": "unsend", "id": 7, "thread": "t", "seq": 1.0},
    {"type": "unsend", "id": 7, "thread": "t", "seq": 2**63},
    {"type": "react", "id": 7, "thread": "t", "seq": 1, "emoji": "👍"},
    {"type": "react", "id": 7, "thread": "t", "seq": 1, "emoji": "👍", "on": 1},
    {"type": "react", "id": 7, "thread": "t", "seq": True, "emoji": "👍", "on": True},
])
def test_lifecycle_frames_of_the_wrong_shape_are_bad_requests(codec: Codec,
                                                              raw: dict[str, Any]) -> None:
    data = msgspec.json.encode(raw) if codec is JSON else msgspec.msgpack.encode(raw)
    with pytest.raises(ProtocolError) as info:
        codec.decode_client(data)
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert info.value.request_id == 7


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("frame", [
    Edit(thread="t", seq=4, body="fixed", meta={"a": 1}, id=1),
    Unsend(thread="t", seq=4, id="u"),
    React(thread="t", seq=4, emoji="🎉", on=False, id=2),
    Send(thread="t", cid="c", body="b", reply_to=2,
         attachments=[Attachment(url="https://a.b/c", type="image/png", size=3, width=1)]),
])
def test_lifecycle_client_frames_round_trip(codec: Codec, frame: Any) -> None:
    assert codec.decode_client(codec.encode_client(frame)) == frame


# server frames


@pytest.mark.parametrize("codec", CODECS)
def test_an_update_from_the_http_api_carries_user_null(codec: Codec) -> None:
    frame = Update(thread="t", seq=9, target=4, kind="unsend", user=None, ts=5)
    plain = (msgspec.json.decode(codec.encode_server(frame)) if codec is JSON
             else msgspec.msgpack.decode(codec.encode_server(frame)))
    assert plain == {"type": "update", "thread": "t", "seq": 9, "target": 4,
                     "kind": "unsend", "user": None, "ts": 5}


@pytest.mark.parametrize("codec", CODECS)
def test_an_update_gets_its_cursor_added_once_encoded(codec: Codec) -> None:
    frame = Update(thread="t", seq=9, target=4, kind="edit", user="a", ts=5, body="b",
                   meta={"x": 1})
    with_cursor = codec.with_field(codec.encode_server(frame), "cursor", "12")
    decoded = codec.decode_server(with_cursor)
    assert isinstance(decoded, Update) and decoded.cursor == "12" and decoded.body == "b"


@pytest.mark.parametrize("codec", CODECS)
def test_a_react_ack_that_changed_nothing_carries_seq_null(codec: Codec) -> None:
    data = codec.encode_server(Ack(id=1, thread="t", seq=None, target=3))
    plain = msgspec.json.decode(data) if codec is JSON else msgspec.msgpack.decode(data)
    assert plain == {"type": "ack", "id": 1, "thread": "t", "seq": None, "target": 3}


@pytest.mark.parametrize("codec", CODECS)
def test_an_ack_without_seq_leaves_it_out(codec: Codec) -> None:
    data = codec.encode_server(Ack(id=1))
    plain = msgspec.json.decode(data) if codec is JSON else msgspec.msgpack.decode(data)
    assert plain == {"type": "ack", "id": 1}


@pytest.mark.parametrize("codec", CODECS)
def test_a_message_with_every_lifecycle_field_can_still_take_a_cursor(codec: Codec) -> None:
    frame = Message(thread="t", seq=1, msg="1", from_="a", body="", meta={"k": 1}, ts=1,
                    cid="c", reply_to=1, attachments=[Attachment(url="https://a.b/c",
                                                                 type="a/b", size=1)],
                    edited=2, deleted=True)
    decoded = codec.decode_server(codec.with_field(codec.encode_server(frame), "cursor", "9"))
    assert isinstance(decoded, Message) and decoded.cursor == "9" and decoded.deleted
