"""The Engine.IO v4 / Socket.IO v5 packets of the generator's Socket.IO adapter: the
examples of the protocols' own documents, round trips, and every malformed frame refused."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest.socketio_wire import (
    EnginePacket,
    EngineType,
    SocketPacket,
    SocketType,
    WireError,
    decode_engine,
    decode_handshake,
    decode_socket,
    encode_engine,
    encode_socket,
    event_argument,
    event_frame,
)

# What Socket.IO 4.8 sends first on a WebSocket-only session.
OPEN = ('0{"sid":"I_XUO-fFDclAcmxrAAAA","upgrades":[],"pingInterval":25000,'
        '"pingTimeout":20000,"maxPayload":65536}')

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
namespaces = st.just("/") | st.text(
    st.characters(blacklist_characters=",", blacklist_categories=("Cs",)), min_size=1
).map(lambda s: "/" + s)


def test_the_open_packet_gives_the_session_settings() -> None:
    handshake = decode_handshake(decode_engine(OPEN))
    assert handshake.sid == "I_XUO-fFDclAcmxrAAAA"
    assert (handshake.ping_interval, handshake.ping_timeout) == (25000, 20000)
    assert handshake.max_payload == 65536
    assert handshake.upgrades == []


def test_a_packet_other_than_open_is_no_handshake() -> None:
    with pytest.raises(WireError, match="expected the open packet"):
        decode_handshake(decode_engine("2"))


def test_an_open_packet_without_its_settings_is_refused() -> None:
    with pytest.raises(WireError, match="bad open packet"):
        decode_handshake(decode_engine('0{"sid":"x"}'))


@pytest.mark.parametrize(("text", "kind", "data"), [
    ("2", EngineType.PING, ""),
    ("3", EngineType.PONG, ""),
    ("1", EngineType.CLOSE, ""),
    ("4hello", EngineType.MESSAGE, "hello"),
    ("6", EngineType.NOOP, ""),
])
def test_engine_packets_are_a_type_digit_and_their_data(
    text: str, kind: EngineType, data: str
) -> None:
    assert decode_engine(text) == EnginePacket(kind, data)
    assert encode_engine(EnginePacket(kind, data)) == text


@pytest.mark.parametrize("text", ["", "7", "x2", "{}"])
def test_a_frame_that_is_no_engine_packet_is_refused(text: str) -> None:
    with pytest.raises(WireError, match=r"not an Engine\.IO packet"):
        decode_engine(text)


@given(st.sampled_from(EngineType), st.text())
def test_engine_packets_round_trip(kind: EngineType, data: str) -> None:
    packet = EnginePacket(kind, data)
    assert decode_engine(encode_engine(packet)) == packet


# The examples of the Socket.IO protocol's document, revision 5.
@pytest.mark.parametrize(("encoded", "packet"), [
    ("0", SocketPacket(SocketType.CONNECT)),
    ('0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}',
     SocketPacket(SocketType.CONNECT, "/admin", None, {"sid": "oSO0OpakMV_3jnilAAAA"})),
    ('4{"message":"Not authorized"}',
     SocketPacket(SocketType.CONNECT_ERROR, "/", None, {"message": "Not authorized"})),
    ('2["foo"]', SocketPacket(SocketType.EVENT, "/", None, ["foo"])),
    ('2/admin,["bar"]', SocketPacket(SocketType.EVENT, "/admin", None, ["bar"])),
    ('212["foo"]', SocketPacket(SocketType.EVENT, "/", 12, ["foo"])),
    ('3/admin,13["bar"]', SocketPacket(SocketType.ACK, "/admin", 13, ["bar"])),
    ("1", SocketPacket(SocketType.DISCONNECT)),
    ("1/admin,", SocketPacket(SocketType.DISCONNECT, "/admin")),
])
def test_socket_packets_match_the_protocol_examples(encoded: str, packet: SocketPacket) -> None:
    assert decode_socket(encoded) == packet
    assert encode_socket(packet) == encoded


@given(namespaces, st.none() | st.integers(0, 2**31), st.text(min_size=1),
       st.lists(json_values, max_size=3))
def test_events_round_trip(namespace: str, ack_id: int | None, name: str,
                           args: list[Any]) -> None:
    packet = SocketPacket(SocketType.EVENT, namespace, ack_id, [name, *args])
    assert decode_socket(encode_socket(packet)) == packet


@given(namespaces, st.none() | st.dictionaries(st.text(max_size=5), json_values, max_size=3))
def test_connects_round_trip(namespace: str, auth: dict[str, Any] | None) -> None:
    packet = SocketPacket(SocketType.CONNECT, namespace, None, auth)
    assert decode_socket(encode_socket(packet)) == packet


@pytest.mark.parametrize(("data", "error"), [
    ("", "not a Socket.IO packet"),
    ("9", "not a Socket.IO packet"),
    ('51-["baz",{"_placeholder":true,"num":0}]', "binary packets are not supported"),
    ('61-15["bar",{"_placeholder":true,"num":0}]', "binary packets are not supported"),
    ('2["unterminated"', "bad payload"),
    ("2", "an EVENT payload"),
    ("2[]", "an EVENT payload"),
    ("2[1]", "an EVENT payload"),
    ('2{"a":1}', "an EVENT payload"),
    ("0[1]", "a CONNECT payload"),
    ("1{}", "a DISCONNECT has no payload"),
    ("3{}", "an ACK payload"),
    ("4", "a CONNECT_ERROR payload"),
])
def test_a_malformed_socket_packet_is_refused(data: str, error: str) -> None:
    with pytest.raises(WireError, match=error):
        decode_socket(data)


@pytest.mark.parametrize(("packet", "error"), [
    (SocketPacket(SocketType.BINARY_EVENT, data=["x"]), "binary packets are not supported"),
    (SocketPacket(SocketType.EVENT, "/a,b", data=["x"]), "bad namespace"),
    (SocketPacket(SocketType.EVENT, "admin", data=["x"]), "bad namespace"),
    (SocketPacket(SocketType.EVENT, id=-1, data=["x"]), "not negative"),
    (SocketPacket(SocketType.EVENT, data=[]), "an EVENT payload"),
])
def test_a_packet_that_cannot_be_encoded_is_refused(packet: SocketPacket, error: str) -> None:
    with pytest.raises(WireError, match=error):
        encode_socket(packet)


def test_an_event_frame_is_an_engine_message_carrying_a_socket_event() -> None:
    frame = event_frame("send", '{"to":"b","body":"hi"}')
    assert frame == '42["send",{"to":"b","body":"hi"}]'
    packet = decode_engine(frame)
    assert packet.type is EngineType.MESSAGE
    assert decode_socket(packet.data) == SocketPacket(
        SocketType.EVENT, "/", None, ["send", {"to": "b", "body": "hi"}])


@given(st.text(), json_values)
def test_an_event_argument_is_read_back_as_its_json(name: str, value: Any) -> None:
    argument = msgspec.json.encode(value).decode()
    assert event_argument(event_frame(name, argument)) == (name, argument)


@pytest.mark.parametrize("frame", [
    '42["message"]',                  # no argument
    '42["message",1,2]',              # two arguments
    '4212["message",1]',              # an acknowledgement id
    '42/admin,["message",1]',         # another namespace
    '43["message",1]',                # an ACK
    "40",
    "2",
    '42["message",{"unterminated"',
])
def test_only_a_one_argument_event_of_the_main_namespace_takes_the_fast_path(
    frame: str,
) -> None:
    assert event_argument(frame) is None
