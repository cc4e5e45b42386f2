"""The servers ``baseline`` compares, each a fresh process on free ports of 127.0.0.1.

:func:`node` (``realtime serve``, limits raised for load), :func:`relay` (the raw aiohttp
relay) and :func:`socketio` (Socket.IO 4.8 on Node, see :mod:`loadtest.socketio_server`)
are async context managers: they start the process, pinned with ``taskset -c`` when given
a CPU list, enter once its ``/metrics`` or ``/healthz`` answers, and stop it on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import aiohttp

from loadtest import socketio_server
from loadtest.servers import free_port

__all__ = ["Server", "node", "relay", "socketio"]

_STARTUP_SECONDS = 60
_STOP_SECONDS = 30


@dataclass(frozen=True)
class Server:
    """Where the generator reaches a target: its WebSocket URL and the base URL of its
    ``/metrics``."""

    ws_url: str
    api_url: str


def _pinned(cpu: str | None, argv: list[str]) -> list[str]:
    return (["taskset", "-c", cpu, *argv]) if cpu else argv


@contextlib.asynccontextmanager
async def _process(argv: list[str], env: dict[str, str], health: str,
                   log: IO[bytes]) -> AsyncIterator[None]:
    """Run ``argv`` until the block ends; enter once ``health`` answers 200."""
    process = await asyncio.create_subprocess_exec(*argv, env=env, stdout=log,
                                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + _STARTUP_SECONDS
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"{argv} exited with {process.returncode}; "
                                       "see --server-log")
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with session.get(health) as response:
                        if response.status == 200:
                            break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{argv} did not become healthy; see --server-log")
                await asyncio.sleep(0.1)  # a poll interval of the start-up
        yield
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(_STOP_SECONDS):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


@contextlib.asynccontextmanager
async def relay(cpu: str | None, log: IO[bytes]) -> AsyncIterator[Server]:
    """A baseline relay process on a free port."""
    port = free_port()
    argv = _pinned(cpu, [sys.executable, "-m", "loadtest.baseline_relay", "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    async with _process(argv, dict(os.environ), f"{base}/metrics", log):
        yield Server(f"ws://127.0.0.1:{port}/ws", base)


@contextlib.asynccontextmanager
async def socketio(cpu: str | None, folder: Path, log: IO[bytes], *,
                   redis_url: str | None = None,
                   heartbeat_ms: tuple[int, int] | None = None) -> AsyncIterator[Server]:
    """The Socket.IO baseline on a free port, from ``folder`` (made by
    :func:`loadtest.socketio_server.install`); with ``redis_url``, one server of the
    cluster on that Redis."""
    port = free_port()
    argv = _pinned(cpu, socketio_server.command(folder, "127.0.0.1", port, redis_url=redis_url,
                                                heartbeat_ms=heartbeat_ms))
    base = f"http://127.0.0.1:{port}"
    async with _process(argv, dict(os.environ), f"{base}/metrics", log):
        yield Server(f"ws://127.0.0.1:{port}/socket.io/", base)


@contextlib.asynccontextmanager
async def node(cpu: str | None, secret: str, api_key: str, database_url: str | None,
               log: IO[bytes]) -> AsyncIterator[Server]:
    """A node process (``realtime serve``) on free ports, with limits raised for load."""
    port, api_port = free_port(), free_port()
    data_dir = tempfile.mkdtemp(prefix="loadtest-node-")
    env = dict(os.environ)
    env.update({
        "REALTIME_HOST": "127.0.0.1",
        "REALTIME_PORT": str(port),
        "REALTIME_API_PORT": str(api_port),
        "REALTIME_JWT_SECRET": secret,
        "REALTIME_API_KEY": api_key,
        "REALTIME_DATA_DIR": data_dir,
        "REALTIME_LIMIT_RATE": "100000",
        "REALTIME_LIMIT_BURST": "100000",
        "REALTIME_LIMIT_CONNECTIONS": "19500",
        "REALTIME_LOG_LEVEL": "warning",
    })
    env.pop("REALTIME_REDIS_URL", None)
    if database_url:
        env["REALTIME_DATABASE_URL"] = database_url
    else:
        env.pop("REALTIME_DATABASE_URL", None)
    argv = _pinned(cpu, [sys.executable, "-m", "realtime.cli", "serve"])
    base = f"http://127.0.0.1:{api_port}"
    try:
        async with _process(argv, env, f"{base}/healthz", log):
            yield Server(f"ws://127.0.0.1:{port}/ws", base)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
