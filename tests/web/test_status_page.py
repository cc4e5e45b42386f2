"""The status page in headless Chromium: behind the API key, it shows the node, its
connections, rates and latency over the last minutes, and its recent errors.

``status_page.mjs`` (playwright-core) drives Chromium against a node running in the
test's event loop; the screenshot is kept in ``test-artifacts/status-page.png``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.node import API_KEY, NodeFactory
from tests.fixtures.wire import wire
from tests.web.test_browser_demo import ARTIFACTS, CHROMIUM, MISSING

HERE = Path(__file__).parent
SCRIPT = HERE / "status_page.mjs"
RUN_LIMIT = 60.0


async def run_script(api_url: str, node_id: str) -> tuple[int, dict[str, object], str]:
    process = await asyncio.create_subprocess_exec(
        "node", str(SCRIPT), api_url, API_KEY, node_id, str(ARTIFACTS), cwd=HERE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "CHROMIUM": CHROMIUM},
    )
    try:
        async with asyncio.timeout(RUN_LIMIT):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    results = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}
    return process.returncode or 0, results, err.decode()


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
@pytest.mark.timeout(RUN_LIMIT + 30)
async def test_the_status_page_shows_the_node_its_minutes_and_its_errors(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory()
    async with wire(node, "alice") as alice, wire(node, "bob"):
        # A few intervals of traffic, each closed by a heartbeat.
        for n in range(4):
            for i in range(5):
                await alice.request({"type": "send", "to": "bob", "body": f"hi {n}.{i}",
                                     "cid": f"c{n}.{i}"})
            await node.heartbeat.beat()
        logging.getLogger("realtime.test").warning("an example warning for the page")
        code, results, log = await run_script(node.api_url, node.id)

    assert code == 0, f"browser run failed:\n{log}"
    assert results["withoutKey"] == 401 and results["withKey"] == 200
    assert node.id in str(results["heading"])
    row = results["nodeRow"]
    assert isinstance(row, list) and row[0] == node.id and row[3] == "2"  # sessions
    assert results["lines"] == {"sessions": 1, "rates": 2, "latency": 2}
    assert any("an example warning for the page" in e for e in results["errors"])  # type: ignore[union-attr]
    assert results["consoleErrors"] == [] and results["foreignRequests"] == []
    assert await asyncio.to_thread(os.path.getsize, str(results["screenshot"])) > 10_000
