"""JSON and MessagePack codecs for frames, chosen by WebSocket subprotocol.

Both codecs are derived from the declarations in :mod:`protocol.frames`: decoding a
client frame checks its types, so a decoded frame is well-typed, though not yet valid
(see :mod:`protocol.validation`). Whatever bytes a peer sends, decoding either returns a
frame or raises :class:`~protocol.errors.ProtocolError` ``bad_request``, never anything
else; when the input was a map with a usable ``id``, the error carries it.

Encoding is for our own frames: it does not raise for frames built with the declared
types.
"""

from __future__ import annotations

import abc
from typing import Any, Final, get_args

import msgspec

from protocol.errors import ErrorCode, ProtocolError
from protocol.frames import (
    INT64_MAX,
    INT64_MIN,
    ClientFrame,
    ServerFrame,
)
from protocol.shallow import json_id, msgpack_id
from protocol.validation import MAX_REQUEST_ID_LENGTH

__all__ = [
    "JSON",
    "MSGPACK",
    "SUBPROTOCOLS",
    "SUBPROTOCOL_JSON",
    "SUBPROTOCOL_MSGPACK",
    "Codec",
    "JsonCodec",
    "MsgpackCodec",
    "codec_for",
]

SUBPROTOCOL_JSON: Final = "rt.v1.json"
SUBPROTOCOL_MSGPACK: Final = "rt.v1.msgpack"
SUBPROTOCOLS: Final = (SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK)

# Longest piece of a peer's input quoted back in an error message.
_QUOTE_LIMIT: Final = 40
_MESSAGE_LIMIT: Final = 200


class _Envelope(msgspec.Struct):
    """What is left of a frame that failed to decode: enough to answer it."""

    type: Any = None
    id: Any = None


_CLIENT_TAGS: Final = frozenset(cls.__struct_config__.tag for cls in get_args(ClientFrame))
_SERVER_TAGS: Final = frozenset(cls.__struct_config__.tag for cls in get_args(ServerFrame))


def _request_id(envelope: _Envelope | None) -> int | str | None:
    if envelope is None:
        return None
    value = envelope.id
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and INT64_MIN <= value <= INT64_MAX:
        return value
    if isinstance(value, str) and len(value) <= MAX_REQUEST_ID_LENGTH:
        return value
    return None


def _describe(exc: msgspec.DecodeError, envelope: _Envelope | None, tags: frozenset[str]) -> str:
    if envelope is not None and isinstance(envelope.type, str) and envelope.type not in tags:
        name = envelope.type
        if len(name) > _QUOTE_LIMIT:
            name = name[:_QUOTE_LIMIT] + "..."
        return f"unknown frame type {name!r}"
    message = str(exc)
    if len(message) > _MESSAGE_LIMIT:
        message = message[:_MESSAGE_LIMIT] + "..."
    return message


class Codec(abc.ABC):
    """Turns frames into WebSocket payloads and back, for one subprotocol.

    A server calls :meth:`decode_client` on every data frame it receives and
    :meth:`encode_server` on every frame it sends; a client does the converse with
    :meth:`encode_client` and :meth:`decode_server`.
    """

    subprotocol: str
    """The WebSocket subprotocol this codec speaks."""
    binary: bool
    """Whether payloads travel in binary frames (``True``) or text frames."""

    _client_decoder: msgspec.json.Decoder[Any] | msgspec.msgpack.Decoder[Any]
    _server_decoder: msgspec.json.Decoder[Any] | msgspec.msgpack.Decoder[Any]
    _envelope_decoder: msgspec.json.Decoder[Any] | msgspec.msgpack.Decoder[Any]

    def decode_client(self, data: bytes | str) -> ClientFrame:
        """Decode a frame received from a client.

        Raise :class:`ProtocolError` ``bad_request`` if ``data`` is not a well-typed
        client frame.
        """
        return self._decode(self._client_decoder, _CLIENT_TAGS, data)  # type: ignore[no-any-return]

    def decode_server(self, data: bytes | str) -> ServerFrame:
        """Decode a frame received from a server.

        Raise :class:`ProtocolError` ``bad_request`` if ``data`` is not a well-typed
        server frame.
        """
        return self._decode(self._server_decoder, _SERVER_TAGS, data)  # type: ignore[no-any-return]

    @abc.abstractmethod
    def encode_server(self, frame: ServerFrame) -> bytes:
        """Encode a frame for sending to a client, as the payload of a text frame
        (UTF-8) or a binary one, as :attr:`binary` says."""

    @abc.abstractmethod
    def encode_client(self, frame: ClientFrame) -> bytes | str:
        """Encode a frame for sending to a server, as a text or binary payload."""

    @abc.abstractmethod
    def with_field(self, encoded: bytes | str, key: str, value: str) -> bytes:
        """Add a string field to an encoded server frame that lacks it.

        This lets a frame shared by many recipients be encoded once, and a per-recipient
        field (a message's ``cursor``) be appended without decoding it again.
        """

    def _input(self, data: bytes | str) -> bytes | str:
        return data

    def _decode(
        self,
        decoder: msgspec.json.Decoder[Any] | msgspec.msgpack.Decoder[Any],
        tags: frozenset[str],
        data: bytes | str,
    ) -> Any:
        data = self._input(data)
        try:
            # A str reaches only the JSON decoder: the MessagePack codec's _input refuses it.
            return decoder.decode(data)  # type: ignore[arg-type]
        except msgspec.ValidationError as exc:
            # A map that decoded but does not fit: recover its type and id, if any.
            envelope = self._envelope(data)
            raise ProtocolError(
                ErrorCode.BAD_REQUEST, _describe(exc, envelope, tags), _request_id(envelope)
            ) from None
        except msgspec.DecodeError as exc:
            raise ProtocolError(ErrorCode.BAD_REQUEST, _describe(exc, None, tags)) from None
        except RecursionError:
            # The envelope cannot be decoded either: read the id without descending.
            found = msgpack_id(data) if isinstance(data, bytes) and self.binary else \
                json_id(data)
            raise ProtocolError(ErrorCode.BAD_REQUEST, "frame is nested too deeply",
                                _request_id(_Envelope(id=found))) from None
        except UnicodeDecodeError:
            # msgspec raises this (not a DecodeError) for a string that is not UTF-8.
            raise ProtocolError(ErrorCode.BAD_REQUEST, "a string is not valid UTF-8") from None

    def _envelope(self, data: bytes | str) -> _Envelope | None:
        try:
            return self._envelope_decoder.decode(data)  # type: ignore[arg-type,no-any-return]
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
            return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.subprotocol}>"


class JsonCodec(Codec):
    """``rt.v1.json``: JSON in text frames. Decoding also accepts UTF-8 bytes."""

    subprotocol = SUBPROTOCOL_JSON
    binary = False

    _encoder: Final = msgspec.json.Encoder()
    _client_decoder = msgspec.json.Decoder(ClientFrame)
    _server_decoder = msgspec.json.Decoder(ServerFrame)
    _envelope_decoder = msgspec.json.Decoder(_Envelope)

    def encode_server(self, frame: ServerFrame) -> bytes:
        """Encode a frame for a client, as the UTF-8 payload of a text frame.

        Bytes, not ``str``: the socket sends bytes, and a frame that went through
        ``str`` would be copied twice more on its way out.
        """
        return self._encoder.encode(frame)

    def with_field(self, encoded: bytes | str, key: str, value: str) -> bytes:
        assert isinstance(encoded, bytes) and encoded.endswith(b"}")
        encode = self._encoder.encode
        return b"".join((encoded[:-1], b",", encode(key), b":", encode(value), b"}"))

    def encode_client(self, frame: ClientFrame) -> str:
        """Encode a frame for a server, as the text of a text frame."""
        return self._encoder.encode(frame).decode()


class MsgpackCodec(Codec):
    """``rt.v1.msgpack``: MessagePack in binary frames. A text frame is bad_request."""

    subprotocol = SUBPROTOCOL_MSGPACK
    binary = True

    _encoder: Final = msgspec.msgpack.Encoder()
    _client_decoder = msgspec.msgpack.Decoder(ClientFrame)
    _server_decoder = msgspec.msgpack.Decoder(ServerFrame)
    _envelope_decoder = msgspec.msgpack.Decoder(_Envelope)

    def with_field(self, encoded: bytes | str, key: str, value: str) -> bytes:
        assert isinstance(encoded, bytes)
        header = encoded[0]
        tail = self._encoder.encode(key) + self._encoder.encode(value)
        # Most frames are maps of fewer than 15 keys: a fixmap, whose first byte holds the
        # count. A frame type declaring more fields (update) is a map16 at any count.
        if 0x80 <= header < 0x8F:
            return bytes((header + 1,)) + encoded[1:] + tail
        if header == 0xDE:
            count = int.from_bytes(encoded[1:3], "big") + 1
            return b"\xde" + count.to_bytes(2, "big") + encoded[3:] + tail
        raise ValueError("with_field needs a MessagePack map with room for a key")

    def encode_server(self, frame: ServerFrame) -> bytes:
        """Encode a frame for a client, as the payload of a binary frame."""
        return self._encoder.encode(frame)

    def encode_client(self, frame: ClientFrame) -> bytes:
        """Encode a frame for a server, as the payload of a binary frame."""
        return self._encoder.encode(frame)

    def _input(self, data: bytes | str) -> bytes | str:
        if isinstance(data, str):
            raise ProtocolError(ErrorCode.BAD_REQUEST, "expected a binary frame")
        return data


JSON: Final = JsonCodec()
MSGPACK: Final = MsgpackCodec()

_BY_SUBPROTOCOL: Final[dict[str, Codec]] = {
    SUBPROTOCOL_JSON: JSON,
    SUBPROTOCOL_MSGPACK: MSGPACK,
}


def codec_for(subprotocol: str | None) -> Codec:
    """Return the codec for a negotiated subprotocol; JSON when none or unknown."""
    if subprotocol is None:
        return JSON
    return _BY_SUBPROTOCOL.get(subprotocol, JSON)
