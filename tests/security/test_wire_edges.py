"""Hostile clients at the edges of RFC 6455 and HTTP: frames written by hand on a raw
socket, so that what a well-behaved client library would never send can be sent."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import struct

import pytest

from realtime.node import Node
from tests.fixtures.node import NodeFactory

BOUND = 10.0
"""Longest wait for anything: it only bounds a failing test."""

TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True) -> bytes:
    """One WebSocket frame as a client writes it (masked unless told otherwise)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if masked else 0
    n = len(payload)
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class RawSocket:
    """A WebSocket connection made and spoken by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self) -> tuple[int, bytes]:
        """The next frame from the server: (opcode, payload)."""
        async with asyncio.timeout(BOUND):
            first, second = await self.reader.readexactly(2)
            n = second & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
            return first & 0x0F, await self.reader.readexactly(n)

    async def close_code(self) -> int | None:
        """Read until the server's close frame: its code, or None if the TCP connection
        ended without one."""
        try:
            while True:
                opcode, payload = await self.recv()
                if opcode == CLOSE:
                    return int(struct.unpack("!H", payload[:2])[0]) if payload else None
        except asyncio.IncompleteReadError:
            return None

    async def json_until(self, kind: str) -> dict[str, object]:
        while True:
            opcode, payload = await self.recv()
            if opcode == TEXT:
                decoded = json.loads(payload)
                if decoded["type"] == kind:
                    return dict(decoded)


async def raw_connect(node: Node, user: str = "alice") -> RawSocket:
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: rt.v1.json\r\n"
        f"Authorization: Bearer {node.token(user)}\r\n\r\n".encode())
    async with asyncio.timeout(BOUND):
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    ws = RawSocket(reader, writer)
    assert (await ws.json_until("welcome"))["user"] == user
    return ws


async def test_a_fragmented_message_over_the_frame_limit_closes_with_1009(
        node_factory: NodeFactory) -> None:
    node = await node_factory(limit_frame=4096)
    ws = await raw_connect(node)
    # Each fragment is small; together they pass the limit.
    await ws.send(frame(TEXT, b"x" * 3000, fin=False))
    await ws.send(frame(CONTINUATION, b"x" * 3000, fin=False))
    await ws.send(frame(CONTINUATION, b"x" * 3000, fin=True))
    assert await ws.close_code() == 1009


async def test_an_unmasked_client_frame_closes_with_1002(node: Node) -> None:
    ws = await raw_connect(node)
    await ws.send(frame(TEXT, json.dumps({"type": "ping", "id": 1}).encode(), masked=False))
    assert await ws.close_code() == 1002


async def test_websocket_pings_count_toward_the_frame_rate_limit(
        node_factory: NodeFactory) -> None:
    node = await node_factory(limit_rate=1.0, limit_burst=5)
    ws = await raw_connect(node)
    pongs = 0
    for i in range(300):
        await ws.send(frame(PING, str(i).encode()))
    # Past the burst, pings are not answered, and going on closes the connection as any
    # other flood does (1008).
    code = None
    while True:
        try:
            opcode, payload = await ws.recv()
        except asyncio.IncompleteReadError:
            break
        if opcode == PONG:
            pongs += 1
        elif opcode == CLOSE:
            code = struct.unpack("!H", payload[:2])[0]
            break
    assert pongs < 20  # the burst, and what the rate refilled meanwhile
    assert code == 1008


async def test_a_request_header_over_8_kb_gets_the_json_error_body_and_one_log_line(
        node: Node, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
        writer.write(f"GET /ws HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 9000}\r\n\r\n".encode())
        async with asyncio.timeout(BOUND):
            response = await reader.read()
        writer.close()
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.split(b" ")[1] == b"400", head
        assert b"application/json" in head.lower()
        answer = json.loads(body)
        assert answer["code"] == "bad_request" and answer["message"]
    about = [r for r in caplog.records if "header" in r.getMessage().lower()
             or r.exc_info is not None]
    assert len(about) <= 1
    assert all(r.exc_info is None for r in about)
