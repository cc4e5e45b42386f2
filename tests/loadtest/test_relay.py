"""The baseline relay routes frames, and the relay scenarios run against it from
several worker processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from loadtest.baseline_relay import Relay
from loadtest.options import Options
from loadtest.runner import run
from tests.fixtures.servers import free_port


@pytest.fixture
async def relay_url() -> AsyncIterator[str]:
    runner = web.AppRunner(Relay().app(), access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield f"127.0.0.1:{port}"
    await runner.cleanup()


def relay_options(address: str, scenario: str, **changes: Any) -> Options:
    base: dict[str, Any] = {
        "scenario": scenario,
        "target": "relay",
        "urls": (f"ws://{address}/ws",),
        "api_urls": (f"http://{address}",),
        "connections": 10,
        "rate": 100.0,
        "duration": 1.0,
        "live": False,
    }
    base.update(changes)
    return Options(**base)


async def test_dm_through_the_relay_from_two_workers_merges_their_counts(
    relay_url: str,
) -> None:
    report = await run(relay_options(relay_url, "dm", workers=2))
    summary = report["summary"]
    assert summary["sent"] == 100
    assert summary["delivered"] == 100
    assert summary["latency_ms"]["count"] == 100
    assert (summary["lost"], summary["duplicates"]) == (0, 0)
    assert report["generator"]["workers"] == 2


async def test_fanout_through_the_relay_reaches_every_member_in_every_worker(
    relay_url: str,
) -> None:
    report = await run(relay_options(relay_url, "fanout", rate=20.0, workers=2))
    assert report["summary"]["delivered"] == 20 * 9
    assert report["summary"]["lost"] == 0


async def test_idle_on_the_relay_reads_its_process_memory(relay_url: str) -> None:
    report = await run(relay_options(relay_url, "idle", connections=20))
    assert report["summary"]["still_open"] == 20
    assert report["server"]["rss_end"] > 0
