"""The JSON and MessagePack codecs: what they accept, reject and leave out."""

from __future__ import annotations

import msgspec
import pytest

from protocol import (
    JSON,
    MSGPACK,
    SUBPROTOCOL_JSON,
    SUBPROTOCOL_MSGPACK,
    SUBPROTOCOLS,
    Ack,
    Codec,
    Error,
    ErrorCode,
    Message,
    Ping,
    Presence,
    ProtocolError,
    Read,
    Send,
    ThreadEntry,
    ThreadsReply,
    Typing,
    TypingEvent,
    codec_for,
    error_frame,
)

CODECS = [JSON, MSGPACK]


def wire(codec: Codec, obj: object) -> bytes | str:
    """Encode a plain structure as a peer would send it with ``codec``."""
    if codec.binary:
        return msgspec.msgpack.encode(obj)
    return msgspec.json.encode(obj).decode()


def plain(codec: Codec, data: bytes | str) -> object:
    """Decode a payload into plain Python values, as a peer would read it."""
    if codec.binary:
        return msgspec.msgpack.decode(data)
    return msgspec.json.decode(data)


def decode_error(codec: Codec, data: bytes | str) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        codec.decode_client(data)
    return info.value


def system_message(**fields: object) -> Message:
    defaults: dict[str, object] = dict(
        thread="t1", seq=1, msg="m1", from_=None, body="hi", meta=None, ts=1700000000000
    )
    defaults.update(fields)
    return Message(**defaults)  # type: ignore[arg-type]


def test_subprotocols_are_listed_json_first() -> None:
    assert SUBPROTOCOLS == ("rt.v1.json", "rt.v1.msgpack")


@pytest.mark.parametrize(
    ("subprotocol", "expected"),
    [(SUBPROTOCOL_JSON, JSON), (SUBPROTOCOL_MSGPACK, MSGPACK), (None, JSON), ("v9", JSON)],
)
def test_codec_for_defaults_to_json(subprotocol: str | None, expected: Codec) -> None:
    assert codec_for(subprotocol) is expected


def test_json_payloads_go_in_text_frames_and_msgpack_in_binary_ones() -> None:
    assert isinstance(JSON.encode_server(Ack(id=1)), bytes)  # the UTF-8 of a text frame
    assert not JSON.binary
    assert isinstance(MSGPACK.encode_server(Ack(id=1)), bytes)
    assert MSGPACK.binary


def test_json_codec_accepts_bytes_and_text() -> None:
    assert JSON.decode_client(b'{"type":"ping","id":1}') == Ping(id=1)
    assert JSON.decode_client('{"type":"ping","id":1}') == Ping(id=1)


def test_msgpack_codec_rejects_a_text_frame() -> None:
    error = decode_error(MSGPACK, '{"type":"ping"}')
    assert error.code is ErrorCode.BAD_REQUEST
    assert error.message == "expected a binary frame"


@pytest.mark.parametrize("codec", CODECS)
def test_unknown_fields_are_ignored(codec: Codec) -> None:
    data = wire(codec, {"type": "read", "thread": "t", "seq": 3, "shiny": [1, {"x": 2}]})
    assert codec.decode_client(data) == Read(thread="t", seq=3)


@pytest.mark.parametrize("codec", CODECS)
def test_from_in_a_client_frame_is_ignored(codec: Codec) -> None:
    data = wire(codec, {"type": "send", "to": "bob", "cid": "c", "body": "x", "from": "eve"})
    frame = codec.decode_client(data)
    assert frame == Send(to="bob", cid="c", body="x")
    assert not hasattr(frame, "from_")


@pytest.mark.parametrize("codec", CODECS)
def test_unknown_type_is_bad_request_naming_it(codec: Codec) -> None:
    error = decode_error(codec, wire(codec, {"type": "xyz", "id": 4}))
    assert error.code is ErrorCode.BAD_REQUEST
    assert error.message == "unknown frame type 'xyz'"
    assert error.request_id == 4


@pytest.mark.parametrize("codec", CODECS)
def test_missing_type_is_bad_request(codec: Codec) -> None:
    error = decode_error(codec, wire(codec, {"thread": "t", "id": "a"}))
    assert error.code is ErrorCode.BAD_REQUEST
    assert "type" in error.message
    assert error.request_id == "a"


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("request_id", [17, "req-17"])
def test_request_id_is_recovered_from_a_bad_frame(codec: Codec, request_id: int | str) -> None:
    error = decode_error(codec, wire(codec, {"type": "send", "id": request_id, "cid": 5}))
    assert error.request_id == request_id


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("request_id", [True, 1.5, "r" * 65, [1], 2**63])
def test_unusable_request_id_is_not_echoed(codec: Codec, request_id: object) -> None:
    error = decode_error(codec, wire(codec, {"type": "send", "id": request_id}))
    assert error.code is ErrorCode.BAD_REQUEST
    assert error.request_id is None


@pytest.mark.parametrize("codec", CODECS)
def test_wrong_field_type_names_the_field(codec: Codec) -> None:
    data = wire(codec, {"type": "send", "to": "bob", "cid": "c", "body": 5})
    assert decode_error(codec, data).message == "Expected `str`, got `int` - at `$.body`"


@pytest.mark.parametrize("codec", CODECS)
def test_missing_required_field_is_bad_request(codec: Codec) -> None:
    error = decode_error(codec, wire(codec, {"type": "typing", "thread": "t"}))
    assert error.code is ErrorCode.BAD_REQUEST
    assert "on" in error.message


@pytest.mark.parametrize("codec", CODECS)
def test_bool_is_not_accepted_as_an_int(codec: Codec) -> None:
    error = decode_error(codec, wire(codec, {"type": "read", "thread": "t", "seq": True}))
    assert error.code is ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("codec", CODECS)
def test_int_is_not_accepted_as_a_bool(codec: Codec) -> None:
    error = decode_error(codec, wire(codec, {"type": "typing", "thread": "t", "on": 1}))
    assert error.code is ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("seq", [2**63, 2**64 - 1])
def test_integer_beyond_64_bits_is_bad_request(codec: Codec, seq: int) -> None:
    error = decode_error(codec, wire(codec, {"type": "read", "thread": "t", "seq": seq}))
    assert error.code is ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("digits", ["-9223372036854775809", "9" * 400])
def test_json_integer_beyond_64_bits_is_bad_request(digits: str) -> None:
    error = decode_error(JSON, '{"type":"read","thread":"t","seq":' + digits + "}")
    assert error.code is ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("codec", CODECS)
def test_non_map_frame_is_bad_request(codec: Codec) -> None:
    error = decode_error(codec, wire(codec, ["ping"]))
    assert error.code is ErrorCode.BAD_REQUEST
    assert error.request_id is None


def test_malformed_json_is_bad_request() -> None:
    assert decode_error(JSON, '{"type": "ping"').code is ErrorCode.BAD_REQUEST


def test_malformed_msgpack_is_bad_request() -> None:
    assert decode_error(MSGPACK, b"\xc1").code is ErrorCode.BAD_REQUEST


def test_json_lone_surrogate_is_bad_request() -> None:
    error = decode_error(JSON, '{"type":"send","to":"b","cid":"c","body":"\\udc00"}')
    assert error.code is ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("codec", CODECS)
def test_deeply_nested_frame_is_bad_request(codec: Codec) -> None:
    data = (
        b"\x91" * 100_000 + b"\x90"
        if codec.binary
        else '{"type":"ping","x":' + "[" * 100_000 + "]" * 100_000 + "}"
    )
    assert decode_error(codec, data).code is ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("codec", CODECS)
def test_system_message_encodes_from_as_null(codec: Codec) -> None:
    encoded = plain(codec, codec.encode_server(system_message()))
    assert isinstance(encoded, dict)
    assert "from" in encoded
    assert encoded["from"] is None


@pytest.mark.parametrize("codec", CODECS)
def test_message_from_is_encoded_under_its_wire_name(codec: Codec) -> None:
    encoded = plain(codec, codec.encode_server(system_message(from_="alice")))
    assert isinstance(encoded, dict)
    assert encoded["from"] == "alice"
    assert "from_" not in encoded


@pytest.mark.parametrize("codec", CODECS)
def test_message_meta_is_encoded_as_null_when_absent(codec: Codec) -> None:
    encoded = plain(codec, codec.encode_server(system_message()))
    assert isinstance(encoded, dict)
    assert encoded["meta"] is None


@pytest.mark.parametrize("codec", CODECS)
def test_message_cid_and_cursor_are_omitted_when_none(codec: Codec) -> None:
    encoded = plain(codec, codec.encode_server(system_message()))
    assert isinstance(encoded, dict)
    assert "cid" not in encoded
    assert "cursor" not in encoded


@pytest.mark.parametrize("codec", CODECS)
def test_ack_leaves_out_fields_that_are_none(codec: Codec) -> None:
    encoded = plain(codec, codec.encode_server(Ack(id=3, post="p", count=0)))
    assert encoded == {"type": "ack", "id": 3, "post": "p", "count": 0}


@pytest.mark.parametrize("codec", CODECS)
def test_error_without_request_leaves_out_id(codec: Codec) -> None:
    encoded = plain(codec, codec.encode_server(Error(code="bad_request", message="no")))
    assert encoded == {"type": "error", "code": "bad_request", "message": "no"}


@pytest.mark.parametrize("codec", CODECS)
def test_presence_encodes_last_seen_even_when_null(codec: Codec) -> None:
    encoded = plain(codec, codec.encode_server(Presence(user="a", online=False, last_seen=None)))
    assert encoded == {"type": "presence", "user": "a", "online": False, "last_seen": None}


@pytest.mark.parametrize("codec", CODECS)
def test_thread_entry_encodes_last_even_when_null_and_omits_title(codec: Codec) -> None:
    reply = ThreadsReply(
        threads=[ThreadEntry(thread="t", members=["a", "b"], last=None, unread=0)], more=False,
        id=1,
    )
    encoded = plain(codec, codec.encode_server(reply))
    assert encoded == {
        "type": "threads",
        "threads": [{"thread": "t", "members": ["a", "b"], "last": None, "unread": 0}],
        "more": False,
        "id": 1,
    }


def test_client_and_server_typing_share_a_tag() -> None:
    client = plain(JSON, JSON.encode_client(Typing(thread="t", on=True)))
    server = plain(JSON, JSON.encode_server(TypingEvent(thread="t", user="u", on=True)))
    assert isinstance(client, dict) and isinstance(server, dict)
    assert client["type"] == server["type"] == "typing"


def test_error_frame_answers_a_protocol_error() -> None:
    frame = error_frame(ProtocolError(ErrorCode.TOO_LARGE, "body too big", "r1"))
    assert frame == Error(code="too_large", message="body too big", id="r1")


@pytest.mark.parametrize("codec", CODECS)
def test_decode_server_rejects_garbage(codec: Codec) -> None:
    with pytest.raises(ProtocolError) as info:
        codec.decode_server(wire(codec, {"type": "send"}))
    assert info.value.message == "unknown frame type 'send'"
