"""The Engine.IO v4 and Socket.IO v5 packets that the generator's Socket.IO adapter speaks.

Pure: text in, values out, no I/O. Over a WebSocket every Engine.IO packet is one text
frame: its type as one digit, then its data (``0{...}`` open, ``1`` close, ``2`` ping,
``3`` pong, ``4...`` message). A Socket.IO packet travels in an Engine.IO message: its type
as one digit, then the namespace and a comma unless it is the main namespace ``/``, then
an acknowledgement id if there is one, then the JSON payload: ``40`` asks to connect,
``40{"sid":...}`` grants it, ``44{"message":...}`` refuses it, ``42["name",...]`` is an
event. Binary packets (``5``, ``6``: attachments in separate frames) are refused with a
:class:`WireError`; the harness never sends nor expects them.

:func:`event_frame` and :func:`event_argument` are the per-message paths: they build and
read ``42["name",argument]`` without decoding the argument.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import msgspec

__all__ = [
    "EnginePacket",
    "EngineType",
    "Handshake",
    "SocketPacket",
    "SocketType",
    "WireError",
    "decode_engine",
    "decode_handshake",
    "decode_socket",
    "encode_engine",
    "encode_socket",
    "event_argument",
    "event_frame",
]


class WireError(ValueError):
    """A frame that is not a packet of these protocols (or one the harness refuses)."""


class EngineType(enum.IntEnum):
    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


class SocketType(enum.IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


@dataclass(frozen=True)
class EnginePacket:
    type: EngineType
    data: str = ""


@dataclass(frozen=True)
class SocketPacket:
    type: SocketType
    namespace: str = "/"
    id: int | None = None
    data: Any = None
    """The decoded JSON payload; ``None`` when the packet has none."""


class Handshake(msgspec.Struct, rename="camel"):
    """The data of the server's ``open`` packet (times in milliseconds)."""

    sid: str
    ping_interval: int
    ping_timeout: int
    max_payload: int = 1_000_000
    upgrades: list[str] = msgspec.field(default_factory=list)


_decode_handshake = msgspec.json.Decoder(Handshake).decode
_decode_json = msgspec.json.Decoder().decode
_encode_json = msgspec.json.Encoder().encode
_decode_event = msgspec.json.Decoder(tuple[str, msgspec.Raw]).decode


def encode_engine(packet: EnginePacket) -> str:
    """The text frame of an Engine.IO packet."""
    return f"{int(packet.type)}{packet.data}"


def decode_engine(text: str) -> EnginePacket:
    """The Engine.IO packet of a text frame; :class:`WireError` if it is none."""
    if not text or not "0" <= text[0] <= "6":
        raise WireError(f"not an Engine.IO packet: {text[:40]!r}")
    return EnginePacket(EngineType(int(text[0])), text[1:])


def decode_handshake(packet: EnginePacket) -> Handshake:
    """The session settings of an ``open`` packet."""
    if packet.type is not EngineType.OPEN:
        raise WireError(f"expected the open packet, got {packet.type.name.lower()}")
    try:
        return _decode_handshake(packet.data)
    except msgspec.DecodeError as exc:
        raise WireError(f"bad open packet: {exc}") from None


def encode_socket(packet: SocketPacket) -> str:
    """The data of the Engine.IO message that carries a Socket.IO packet."""
    if packet.type in (SocketType.BINARY_EVENT, SocketType.BINARY_ACK):
        raise WireError("binary packets are not supported")
    if "," in packet.namespace or not packet.namespace.startswith("/"):
        raise WireError(f"bad namespace {packet.namespace!r}")
    _check_payload(packet.type, packet.data)
    parts = [str(int(packet.type))]
    if packet.namespace != "/":
        parts.append(packet.namespace + ",")
    if packet.id is not None:
        if packet.id < 0:
            raise WireError("an acknowledgement id is not negative")
        parts.append(str(packet.id))
    if packet.data is not None:
        parts.append(_encode_json(packet.data).decode())
    return "".join(parts)


def decode_socket(data: str) -> SocketPacket:
    """The Socket.IO packet in an Engine.IO message's data; :class:`WireError` if none."""
    if not data or not "0" <= data[0] <= "6":
        raise WireError(f"not a Socket.IO packet: {data[:40]!r}")
    kind = SocketType(int(data[0]))
    if kind in (SocketType.BINARY_EVENT, SocketType.BINARY_ACK):
        raise WireError("binary packets are not supported")
    i = 1
    namespace = "/"
    if i < len(data) and data[i] == "/":
        comma = data.find(",", i)
        end = len(data) if comma < 0 else comma
        namespace = data[i:end]
        i = end + 1
    start = i
    while i < len(data) and data[i].isdigit():
        i += 1
    ack_id = int(data[start:i]) if i > start else None
    payload: Any = None
    if i < len(data):
        try:
            payload = _decode_json(data[i:])
        except msgspec.DecodeError as exc:
            raise WireError(f"bad payload: {exc}") from None
    _check_payload(kind, payload)
    return SocketPacket(kind, namespace, ack_id, payload)


def _check_payload(kind: SocketType, payload: Any) -> None:
    """The payload rules of the protocol, per packet type."""
    if kind is SocketType.CONNECT and payload is not None and not isinstance(payload, dict):
        raise WireError("a CONNECT payload is an object")
    if kind is SocketType.DISCONNECT and payload is not None:
        raise WireError("a DISCONNECT has no payload")
    if kind is SocketType.EVENT and not (
        isinstance(payload, list) and payload and isinstance(payload[0], str)
    ):
        raise WireError("an EVENT payload is a non-empty array starting with the event name")
    if kind is SocketType.ACK and not isinstance(payload, list):
        raise WireError("an ACK payload is an array")
    if kind is SocketType.CONNECT_ERROR and not isinstance(payload, dict | str):
        raise WireError("a CONNECT_ERROR payload is an object or a string")


def event_frame(name: str, argument: str) -> str:
    """The text frame of an event of the main namespace with one argument, ``argument``
    being JSON text already: ``42["name",argument]``."""
    return f"42[{_encode_json(name).decode()},{argument}]"


def event_argument(frame: str) -> tuple[str, str] | None:
    """(event name, its one argument as JSON text) when ``frame`` is an event of the main
    namespace with exactly one argument and no acknowledgement id; ``None`` when it is
    any other packet (decode those with :func:`decode_engine` and :func:`decode_socket`).
    The argument is not decoded, only delimited."""
    if not frame.startswith("42["):
        return None
    try:
        name, argument = _decode_event(frame[2:])
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return name, bytes(argument).decode()
