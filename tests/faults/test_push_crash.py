"""A node SIGKILLed between a message's commit and its ack still pushes it, exactly once.

The node under test is a real ``realtime serve`` process with push on, sending to the
local fake of FCM. A test-only setting (``REALTIME_TEST_CRASH_AFTER_COMMIT``, see
``realtime/fault_injection.py``) makes it kill itself right after the commit of the
message with a chosen body: the client gets no ack, and the node never decided the push.
Restarted on the same data, the node finds the push the commit recorded as owed and
sends it; the client's resend with the same ``cid`` is a duplicate and queues nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from protocol.frames import Ack
from realtime.auth import mint_token
from realtime_client import Client, ClientError
from tests.fixtures.fake_fcm import FcmSetup
from tests.ops.served import API_KEY, SECRET, environment, realtime_command, run, serving

CRASH = "the last words"
WAIT = 30.0
"""Bounds a failing test only: a recovered push is sent within a few seconds."""


def token(user: str) -> str:
    return mint_token(SECRET, user, ttl=3600)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    return "" if request.param == "sqlite" else str(request.getfixturevalue("postgres_dsn"))


async def api(port: int, method: str, path: str, body: Any) -> None:
    async with aiohttp.ClientSession(headers={"X-API-Key": API_KEY}) as http, \
            http.request(method, f"http://127.0.0.1:{port}{path}", json=body) as response:
        assert response.status == 200, await response.text()


async def test_a_push_committed_before_a_crash_arrives_once_after_the_restart(
        tmp_path: Path, fake_fcm: FcmSetup, database_url: str) -> None:
    settings = {"fcm_credentials": str(fake_fcm.credentials_path),
                "fcm_endpoint": fake_fcm.endpoint}
    if database_url:
        settings["database_url"] = database_url
    env = environment(tmp_path / "data", **settings)
    if database_url:
        code, out, err = await run(realtime_command("migrate"), env)
        assert code == 0, out + err
    fcm = fake_fcm.fake

    crashing = {**env, "REALTIME_TEST_CRASH_AFTER_COMMIT": CRASH}
    async with serving(realtime_command("serve"), crashing) as node:
        await api(node.api_port, "POST", "/v1/devices",
                  {"user": "bob", "token": "tok-bob", "platform": "android"})
        async with Client(node.ws_url, token("ann"), reconnect=False) as ann:
            with pytest.raises(ClientError):
                await ann.send(CRASH, to="bob", cid="crash-1")
        assert await node.exit_code() == -9  # SIGKILL: a crash, not a shutdown
    assert fcm.sends_to("tok-bob") == []

    async with serving(realtime_command("serve"), env) as node:
        async with Client(node.ws_url, token("ann"), reconnect=False) as ann:
            resent = await ann.send(CRASH, to="bob", cid="crash-1")
            assert isinstance(resent, Ack)
            async with asyncio.timeout(WAIT):
                await fcm.wait_for(lambda: fcm.delivered_to("tok-bob") == 1)
            # A later message's push, sent once the recovered one was: nothing of the
            # crashed message may come in between or after.
            await ann.send("afterwards", to="bob", cid="after-1")
            async with asyncio.timeout(WAIT):
                await fcm.wait_for(lambda: fcm.delivered_to("tok-bob") == 2)
    bodies = [send.message["notification"]["body"] for send in fcm.sends_to("tok-bob")]
    assert bodies == [CRASH, "afterwards"]
