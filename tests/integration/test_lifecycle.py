"""The ``realtime`` command as operators run it: a real process, dev mode, health, drain."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[2]
START = 30.0
"""Longest wait for a process to start or stop: it only bounds a failing test."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(data_dir: Path) -> dict[str, str]:
    """The environment of a development node: no secret, no key, a data dir of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALTIME_")}
    env.update(REALTIME_DATA_DIR=str(data_dir), REALTIME_HOST="127.0.0.1",
               REALTIME_LOG_LEVEL="warning", PYTHONPATH=str(ROOT))
    return env


async def cli(data_dir: Path, *args: str) -> str:
    """Run ``realtime ARGS`` to completion and return what it printed."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "realtime.cli", *args, cwd=ROOT, env=environment(data_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(START):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


@dataclass
class Served:
    """A ``realtime serve`` process and where it listens."""

    proc: asyncio.subprocess.Process
    data_dir: Path
    port: int
    api_port: int

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def token(self, user: str) -> str:
        return (await cli(self.data_dir, "token", user)).strip()

    async def exit_code(self) -> int:
        async with asyncio.timeout(START):
            return await self.proc.wait()


@asynccontextmanager
async def serving(data_dir: Path) -> AsyncIterator[Served]:
    """Run ``realtime serve`` on free ports until it prints that it serves; kill it at
    the end if it is still running."""
    proc, port, api_port, output = await start(data_dir)
    assert proc.stdout is not None
    # Keep reading, so that its logs can never fill the pipe and block it.
    drained = asyncio.create_task(drain(proc.stdout, output))
    try:
        yield Served(proc, data_dir, port, api_port)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        await drained


async def start(data_dir: Path) -> tuple[asyncio.subprocess.Process, int, int, list[bytes]]:
    """Start ``realtime serve`` and return once it serves, with its ports and output.
    Another program may take a free port before the node binds it: then try others."""
    output: list[bytes] = []
    for _ in range(3):
        port, api_port = free_port(), free_port()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "realtime.cli", "serve", "--port", str(port),
            "--api-port", str(api_port), cwd=ROOT, env=environment(data_dir),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        assert proc.stdout is not None
        output = []
        try:
            async with asyncio.timeout(START):
                while line := await proc.stdout.readline():
                    if line.startswith(b"serving "):
                        return proc, port, api_port, output
                    output.append(line)
        except BaseException:
            proc.kill()
            await proc.wait()
            raise
        await proc.wait()  # it exited before serving
    raise AssertionError(b"".join(output).decode())


async def drain(stream: asyncio.StreamReader, into: list[bytes]) -> None:
    while line := await stream.readline():
        into.append(line)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with serving(tmp_path / "data") as s:
        yield s


async def test_realtime_token_prints_a_token_the_server_accepts(served: Served) -> None:
    token = await served.token("alice")
    async with connect(f"{served.ws_url}?token={token}", proxy=None) as ws:
        welcome = json.loads(await ws.recv())
    assert (welcome["type"], welcome["user"]) == ("welcome", "alice")


async def test_a_restart_on_the_same_data_dir_accepts_the_same_tokens(tmp_path: Path) -> None:
    async with serving(tmp_path / "data") as first:
        token = await first.token("alice")
        first.proc.send_signal(signal.SIGTERM)
        assert await first.exit_code() == 0
    async with serving(tmp_path / "data") as second, \
            connect(f"{second.ws_url}?token={token}", proxy=None) as ws:
        assert json.loads(await ws.recv())["user"] == "alice"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.parametrize("which", ["public", "api"])
async def test_health_checks_answer_on_both_ports(served: Served, path: str,
                                                  which: str) -> None:
    port = served.port if which == "public" else served.api_port
    async with aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{port}{path}") as response:
        assert response.status == 200
        assert isinstance(await response.json(), dict)


async def test_sigterm_closes_every_connection_with_1012_and_exits_0(served: Served) -> None:
    token = await served.token("alice")
    async with connect(f"{served.ws_url}?token={token}", proxy=None) as phone, \
            connect(f"{served.ws_url}?token={token}", proxy=None) as laptop:
        for ws in (phone, laptop):
            await ws.recv()  # welcome
        served.proc.send_signal(signal.SIGTERM)
        codes = []
        for ws in (phone, laptop):
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(START):
                    while True:
                        await ws.recv()
            assert closed.value.rcvd is not None
            codes.append(closed.value.rcvd.code)
    assert codes == [1012, 1012]
    assert await served.exit_code() == 0


async def test_messages_acked_before_a_drain_are_there_after_a_restart(tmp_path: Path) -> None:
    async with serving(tmp_path / "data") as first:
        token = await first.token("alice")
        async with connect(f"{first.ws_url}?token={token}", proxy=None) as ws:
            await ws.recv()
            for i in range(20):
                await ws.send(json.dumps({"type": "send", "to": "bob", "cid": f"c{i}",
                                          "body": f"m{i}", "id": i}))
            acked = 0
            while acked < 20:
                acked += json.loads(await ws.recv())["type"] == "ack"
            first.proc.send_signal(signal.SIGTERM)
            assert await first.exit_code() == 0
    async with serving(tmp_path / "data") as second, \
            connect(f"{second.ws_url}?token={token}", proxy=None) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "history", "thread": "dm:alice:bob", "id": 1}))
        page = json.loads(await ws.recv())
    assert [m["body"] for m in page["messages"]] == [f"m{i}" for i in range(20)]
