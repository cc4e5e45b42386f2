"""The id of a frame nested too deeply to decode is still found, in JSON and MessagePack,
whatever comes before it and however deep."""

from __future__ import annotations

import json
import sys

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from protocol.codec import codec_for
from protocol.errors import ProtocolError
from protocol.shallow import json_id, msgpack_id

scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(
    allow_nan=False) | st.text(max_size=8)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=4), inner, max_size=3), max_leaves=12)
ids = st.integers(-(2**63), 2**63 - 1) | st.text(max_size=16)


@given(st.dictionaries(st.text(max_size=4).filter(lambda k: k != "id"), values, max_size=4),
       ids, st.integers(0, 4))
def test_the_id_is_found_among_any_other_fields(fields: dict[str, object], rid: object,
                                                at: int) -> None:
    items = list(fields.items())
    items.insert(min(at, len(items)), ("id", rid))
    frame = dict(items)
    assert json_id(json.dumps(frame)) == rid
    assert msgpack_id(msgspec.msgpack.encode(frame)) == rid


def deep(depth: int) -> object:
    nested: list[object] = []
    for _ in range(depth):
        nested = [nested, {"x": "]}"}]
    return nested


def test_a_frame_nested_too_deeply_is_answered_with_its_id() -> None:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        frame = {"type": "send", "meta": {"a": deep(5000)}, "id": "r-7", "to": "bob"}
        as_json, as_msgpack = json.dumps(frame), msgspec.msgpack.encode(frame)
    finally:
        sys.setrecursionlimit(limit)
    for codec, data in ((codec_for("rt.v1.json"), as_json),
                        (codec_for("rt.v1.msgpack"), as_msgpack)):
        try:
            codec.decode_client(data)
        except ProtocolError as exc:
            assert exc.request_id == "r-7"
            assert exc.message == "frame is nested too deeply"
        else:
            raise AssertionError("decoded")


def test_no_id_is_made_up_from_garbage() -> None:
    for data in ("", "[", '{"id"', '{"a": [1, 2', "null", '{"a":1}'):
        assert json_id(data) is None
    for raw in (b"", b"\x81", b"\x81\xa2id", b"\xc1", b"\x80"):
        assert msgpack_id(raw) is None
