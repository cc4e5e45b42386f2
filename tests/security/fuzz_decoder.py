"""Coverage-guided fuzzing of the protocol decoder (atheris, libFuzzer).

Each input is decoded as a client frame by both codecs and validated, and parsed as a
cursor, a topic and a user id. Every outcome but a frame or a ``ProtocolError`` with a
documented code is a crash: libFuzzer stops, prints the input, and exits non-zero.

Run it for as long as you like (libFuzzer flags after the script)::

    python tests/security/fuzz_decoder.py -max_total_time=600 CORPUS_DIR

``tests/security/test_fuzz_decoder.py`` runs it for a bounded number of inputs.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from protocol import (
        JSON,
        MSGPACK,
        Codec,
        ErrorCode,
        Limits,
        ProtocolError,
        error_frame,
        validate,
    )
    from protocol.cursor import parse_cursor
    from protocol.validation import is_user_id, parse_topic

LIMITS = Limits()
DOCUMENTED = frozenset(ErrorCode) - {ErrorCode.INTERNAL}


def check_error(exc: ProtocolError) -> None:
    """A decoder's error names a documented peer error and can be sent back as is."""
    assert exc.code in DOCUMENTED, exc.code
    assert exc.request_id is None or (isinstance(exc.request_id, int | str)
                                      and not isinstance(exc.request_id, bool))
    JSON.encode_server(error_frame(exc))
    MSGPACK.encode_server(error_frame(exc))


def one_input(data: bytes) -> None:
    # A text frame reaches the codec as a str only if it is valid UTF-8 (the WebSocket
    # layer closes with 1007 otherwise); a binary frame reaches it as bytes.
    try:
        text: str | None = data.decode()
    except UnicodeDecodeError:
        text = None
    payloads: list[tuple[Codec, bytes | str]] = [(JSON, data), (MSGPACK, data)]
    if text is not None:
        payloads.append((JSON, text))
    for codec, payload in payloads:
        try:
            validate(codec.decode_client(payload), LIMITS)
        except ProtocolError as exc:
            check_error(exc)
    if text is None:
        return
    for parse in (parse_cursor, parse_topic):
        try:
            parse(text)
        except ProtocolError as exc:
            check_error(exc)
    is_user_id(text)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
