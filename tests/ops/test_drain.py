"""SIGTERM on a ``realtime serve`` process: out of service at once, sessions closed with
1012 spread over the drain window, exit 0."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State

from realtime.auth import mint_token
from tests.ops.served import BOUND, SECRET, Served, environment, realtime_command, serving

SESSIONS = 4
WINDOW = 3.0
"""Seconds: with four sessions, a close every 0.75 s, far apart from scheduling noise."""


def token(user: str) -> str:
    return mint_token(SECRET, user, ttl=3600)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    env = environment(tmp_path / "data", drain_window=str(WINDOW), drain_timeout="5")
    async with serving(realtime_command("serve"), env) as node:
        yield node


async def closed_code(ws: ClientConnection) -> int | None:
    """Read until the connection closes; the close code the server sent."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await ws.recv()
    return closed.value.rcvd.code if closed.value.rcvd is not None else None


async def open_sessions(served: Served) -> list[ClientConnection]:
    sessions = []
    for i in range(SESSIONS):
        ws = await connect(f"{served.ws_url}?token={token(f'user{i}')}", proxy=None)
        await ws.recv()  # welcome: the session is served
        sessions.append(ws)
    return sessions


async def test_sigterm_closes_every_session_with_1012_and_exits_0(served: Served) -> None:
    sessions = await open_sessions(served)
    served.terminate()
    async with asyncio.timeout(BOUND):
        codes = await asyncio.gather(*(closed_code(ws) for ws in sessions))
    assert codes == [1012] * SESSIONS
    assert await served.exit_code() == 0


async def test_the_drain_spreads_its_closes_over_the_window(served: Served) -> None:
    sessions = await open_sessions(served)
    served.terminate()
    waits = {asyncio.create_task(closed_code(ws)): ws for ws in sessions}
    async with asyncio.timeout(BOUND):
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        # When the first session is closed, the others are still being served.
        assert len(done) == 1
        assert sum(ws.state is State.OPEN for ws in sessions) == SESSIONS - 1
        await asyncio.gather(*pending)
    assert await served.exit_code() == 0


async def test_readiness_turns_false_before_the_first_session_closes(served: Served) -> None:
    sessions = await open_sessions(served)
    served.terminate()
    async with aiohttp.ClientSession() as http, asyncio.timeout(BOUND):
        while True:
            async with http.get(f"http://127.0.0.1:{served.api_port}/readyz") as answer:
                if answer.status == 503:
                    break
    # Sessions of the window are still open: readiness led the closes.
    assert any(ws.state is State.OPEN for ws in sessions)
    for ws in sessions:
        await ws.close()
    assert await served.exit_code() == 0


async def test_new_sessions_are_refused_with_503_during_a_drain(served: Served) -> None:
    sessions = await open_sessions(served)
    served.terminate()
    async with aiohttp.ClientSession() as http, asyncio.timeout(BOUND):
        while True:  # wait until the signal was handled: readiness tells
            async with http.get(f"http://127.0.0.1:{served.api_port}/readyz") as answer:
                if answer.status == 503:
                    break
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{served.ws_url}?token={token('late')}", proxy=None)
    assert refused.value.response.status_code == 503
    for ws in sessions:
        await ws.close()
    assert await served.exit_code() == 0
