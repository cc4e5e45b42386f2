"""Property tests: no input breaks a codec, and every frame survives a round trip."""

from __future__ import annotations

import datetime
from typing import Any, get_args

import msgspec
import msgspec.inspect as mi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import (
    JSON,
    MSGPACK,
    ClientFrame,
    Codec,
    ErrorCode,
    Limits,
    ProtocolError,
    ServerFrame,
    error_frame,
    validate,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = Limits()
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)

# Values a peer could put anywhere in a map.
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    INT64,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=12,
)

# MessagePack carries more than JSON does: bytes, extension types, timestamps,
# non-string keys and unsigned integers up to 2**64 - 1.
msgpack_scalars = st.one_of(
    json_scalars,
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(),
    st.binary(max_size=16),
    st.builds(msgspec.msgpack.Ext, st.integers(0, 127), st.binary(max_size=8)),
    st.datetimes(timezones=st.just(datetime.UTC)),
)
msgpack_values = st.recursive(
    msgpack_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers(-5, 5)), children, max_size=4),
    ),
    max_leaves=12,
)


def frame_like(values: st.SearchStrategy[Any], union: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Maps that look like frames of ``union``: a real or unknown type, and each
    declared field either missing, well-typed or holding any value at all."""
    shapes = [
        st.fixed_dictionaries(
            {"type": st.just(cls.__struct_config__.tag)},
            optional={
                field.encode_name: st.one_of(strategy_for(field.type), values)
                for field in mi.type_info(cls).fields
            },
        )
        for cls in get_args(union)
    ]
    shapes.append(st.dictionaries(st.text(max_size=8), values, max_size=4))
    shapes.append(st.fixed_dictionaries({"type": st.just("xyz"), "id": values}))
    return st.one_of(shapes)


def strategy_for(info: mi.Type) -> st.SearchStrategy[Any]:
    """Well-typed values for a msgspec type, built from the frame declarations."""
    if isinstance(info, mi.IntType):
        low = -(2**63) if info.ge is None else info.ge
        high = 2**63 - 1 if info.le is None else info.le
        return st.integers(min_value=low, max_value=high)
    if isinstance(info, mi.BoolType):
        return st.booleans()
    if isinstance(info, mi.FloatType):
        return st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(info, mi.StrType):
        return st.text(max_size=20)
    if isinstance(info, mi.NoneType):
        return st.none()
    if isinstance(info, mi.AnyType):
        return json_values
    if isinstance(info, mi.DictType):
        return st.dictionaries(st.text(max_size=8), strategy_for(info.value_type), max_size=4)
    if isinstance(info, mi.ListType):
        return st.lists(strategy_for(info.item_type), max_size=3)
    if isinstance(info, mi.UnionType):
        return st.one_of([strategy_for(t) for t in info.types])
    if isinstance(info, mi.StructType):
        fields = {field.name: strategy_for(field.type) for field in info.fields}
        return st.builds(info.cls, **fields)
    raise TypeError(f"no strategy for {info!r}")


client_frames = strategy_for(mi.type_info(ClientFrame))
server_frames = strategy_for(mi.type_info(ServerFrame))

json_payloads = st.one_of(
    st.text(),
    st.binary(),
    json_values.map(lambda value: msgspec.json.encode(value).decode()),
    frame_like(json_values, ClientFrame).map(msgspec.json.encode),
    frame_like(json_values, ServerFrame).map(msgspec.json.encode),
)
msgpack_payloads = st.one_of(
    st.binary(),
    st.text(),
    msgpack_values.map(msgspec.msgpack.encode),
    frame_like(msgpack_values, ClientFrame).map(msgspec.msgpack.encode),
    frame_like(msgpack_values, ServerFrame).map(msgspec.msgpack.encode),
)


def _decode_and_validate(codec: Codec, data: bytes | str) -> None:
    try:
        frame = codec.decode_client(data)
    except ProtocolError as exc:
        assert exc.code is ErrorCode.BAD_REQUEST
        # Whatever is echoed must itself encode in either codec.
        assert exc.request_id is None or isinstance(exc.request_id, int | str)
        assert not isinstance(exc.request_id, bool)
        JSON.encode_server(error_frame(exc))
        MSGPACK.encode_server(error_frame(exc))
        return
    try:
        validate(frame, LIMITS)
    except ProtocolError:
        pass


@SETTINGS
@given(json_payloads)
def test_any_input_to_the_json_codec_yields_a_frame_or_a_protocol_error(data: Any) -> None:
    _decode_and_validate(JSON, data)


@SETTINGS
@given(msgpack_payloads)
def test_any_input_to_the_msgpack_codec_yields_a_frame_or_a_protocol_error(data: Any) -> None:
    _decode_and_validate(MSGPACK, data)


@SETTINGS
@given(st.one_of(json_payloads, msgpack_payloads))
def test_any_input_to_decode_server_yields_a_frame_or_a_protocol_error(data: Any) -> None:
    for codec in (JSON, MSGPACK):
        try:
            codec.decode_server(data)
        except ProtocolError:
            pass


@SETTINGS
@given(client_frames)
def test_every_client_frame_round_trips_through_both_codecs(frame: Any) -> None:
    for codec in (JSON, MSGPACK):
        assert codec.decode_client(codec.encode_client(frame)) == frame


@SETTINGS
@given(server_frames)
def test_every_server_frame_round_trips_through_both_codecs(frame: Any) -> None:
    for codec in (JSON, MSGPACK):
        assert codec.decode_server(codec.encode_server(frame)) == frame
