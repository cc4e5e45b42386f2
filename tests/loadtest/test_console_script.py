"""The installed ``realtime-loadtest`` command: the relay it serves, and a scenario it
drives against that relay, reporting JSON."""

from __future__ import annotations

import asyncio
import json
import sysconfig
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.fixtures.servers import free_port

SCRIPT = Path(sysconfig.get_path("scripts")) / "realtime-loadtest"


async def _wait_until_serving(url: str, proc: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        while proc.returncode is None:
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            # Polling a port that is not open yet: nothing to wait on but time.
            await asyncio.sleep(0.05)
    raise AssertionError(f"the relay exited with {proc.returncode}")


@pytest.fixture
async def relay() -> AsyncIterator[str]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        str(SCRIPT), "relay", "--port", str(port),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.wait_for(_wait_until_serving(f"http://127.0.0.1:{port}/metrics", proc), 30)
        yield f"127.0.0.1:{port}"
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()


def test_the_console_script_is_installed() -> None:
    assert SCRIPT.is_file(), f"{SCRIPT} is missing: install the project (pip install -e .)"


async def test_the_console_script_runs_a_scenario_and_writes_its_report(
    relay: str, tmp_path: Path
) -> None:
    out = tmp_path / "dm.json"
    proc = await asyncio.create_subprocess_exec(
        str(SCRIPT), "dm", "--target", "relay", "--url", f"ws://{relay}/ws",
        "--api-url", f"http://{relay}", "--connections", "10", "--rate", "100",
        "--duration", "1", "--no-live", "--json", str(out),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, output.decode()
    summary = json.loads(out.read_text())["summary"]
    assert (summary["sent"], summary["delivered"]) == (100, 100)
    assert (summary["lost"], summary["duplicates"]) == (0, 0)
