"""The frame decoder under coverage-guided fuzzing, and what fuzzing found, end to end.

The hypothesis properties in tests/protocol/test_protocol_properties.py generate frames
from their declarations; libFuzzer (atheris) instead mutates bytes towards new branches,
which is how strings holding bytes that are not UTF-8 were found: msgspec raises
``UnicodeDecodeError`` for them, which is no ``ProtocolError``, so the session took it
for a bug of its own and closed with 1011.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from protocol import JSON, MSGPACK, ProtocolError
from realtime.node import Node
from tests.fixtures.wire import MSGPACK as MSGPACK_SUBPROTOCOL
from tests.fixtures.wire import wire

HARNESS = Path(__file__).with_name("fuzz_decoder.py")
ROOT = HARNESS.parents[2]
RUNS = 50_000
"""Inputs per run: a few seconds; the harness runs as long as asked outside the suite."""

SEEDS = [
    {"type": "send", "to": "bob", "cid": "c1", "body": "hi", "id": 1, "meta": {"a": [1, 2.5]}},
    {"type": "send", "thread": "g:abc", "cid": "c2", "body": "", "id": "r1"},
    {"type": "history", "thread": "dm:alice:bob", "before": 5, "limit": 10},
    {"type": "sync", "cursor": "12.14.15", "id": 2},
    {"type": "subscribe", "topic": "post:p1"},
    {"type": "unsubscribe", "topic": "presence:bob"},
    {"type": "refresh", "token": "a.b.c"},
    {"type": "device", "token": "t", "platform": "ios"},
    {"type": "read", "thread": "g:x", "seq": 1},
    {"type": "like", "post": "p", "on": True},
    {"type": "typing", "thread": "g:x", "on": False},
    {"type": "threads"},
    {"type": "ping", "id": 9},
]

# One string holding a byte that is not UTF-8, in a field the frame declares.
NOT_UTF8_JSON = b'{"type": "send", "to": "bob", "cid": "c1", "body": "caf\xe9", "id": 7}'


def _not_utf8_msgpack() -> bytes:
    head = msgspec.msgpack.encode({"type": "send", "to": "bob", "cid": "c1", "id": 7})
    assert head[0] == 0x84  # a fixmap of four: one more entry follows
    return b"\x85" + head[1:] + msgspec.msgpack.encode("body") + b"\xa4caf\xe9"


def _decoder_leaks_unicode_errors() -> bool:
    try:
        JSON.decode_client(NOT_UTF8_JSON)
        MSGPACK.decode_client(_not_utf8_msgpack())
    except ProtocolError:
        return False
    except UnicodeDecodeError:
        return True
    return False


def test_the_decoder_survives_coverage_guided_fuzzing(tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, frame in enumerate(SEEDS):
        (corpus / f"{i}.json").write_bytes(msgspec.json.encode(frame))
        (corpus / f"{i}.msgpack").write_bytes(msgspec.msgpack.encode(frame))
    result = subprocess.run(
        [sys.executable, str(HARNESS), f"-runs={RUNS}", "-max_len=4096", "-seed=1",
         f"-artifact_prefix={tmp_path}/", str(corpus)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("subprotocol", ["rt.v1.json", MSGPACK_SUBPROTOCOL])
async def test_a_string_that_is_not_utf8_is_a_bad_request_and_the_connection_stays_up(
    node: Node, subprotocol: str,
) -> None:
    # Binary frames: a text frame that is not UTF-8 never reaches the decoder (1007).
    raw = NOT_UTF8_JSON if subprotocol == "rt.v1.json" else _not_utf8_msgpack()
    async with wire(node, "alice", subprotocol=subprotocol) as alice:
        await alice.send(raw)
        error = await alice.recv_until("error")
        pong = await alice.request({"type": "ping"})
    assert error["code"] == "bad_request" and pong["type"] == "pong"
