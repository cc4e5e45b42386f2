"""The demo page in a real browser: two users chat, type, read, like, and resume after a reload.

Headless Chromium is driven by ``demo_e2e.mjs`` (playwright-core from ``package.json`` in
this folder) against a development node running in the test's event loop. The test skips,
saying why, where Chromium, Node.js or playwright-core is missing; ``tests/run`` installs
them where it can. Screenshots are kept in ``test-artifacts/``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.node import NodeFactory

HERE = Path(__file__).parent
SCRIPT = HERE / "demo_e2e.mjs"
ARTIFACTS = HERE.parent.parent / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
RUN_LIMIT = 90.0
"""Seconds the browser run may take before it counts as hung (it takes a few)."""


def missing_tools() -> str | None:
    """Why the browser test cannot run here, or None if it can."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    node = shutil.which("node")
    if node is None:
        return "no Node.js on PATH (playwright-core needs Node.js 20 or later)"
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    major = version.strip().lstrip("v").partition(".")[0]
    if not major.isdigit() or int(major) < 20:
        return f"Node.js {version.strip() or '?'} is too old for playwright-core (needs 20+)"
    if not (HERE / "node_modules" / "playwright-core" / "package.json").is_file():
        return "playwright-core is not installed (npm ci in tests/web)"
    return None


# Checked once at collection, off the event loop.
MISSING = missing_tools()


async def run_browser(base_url: str) -> tuple[int, dict[str, Any], str]:
    """Run the browser script; return its exit code, its JSON results and its log."""
    process = await asyncio.create_subprocess_exec(
        "node", str(SCRIPT), base_url, str(ARTIFACTS),
        cwd=HERE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "CHROMIUM": CHROMIUM},
    )
    try:
        async with asyncio.timeout(RUN_LIMIT):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
    lines = out.decode().strip().splitlines()
    results = json.loads(lines[-1]) if lines else {}
    return process.returncode or 0, results, err.decode()


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
@pytest.mark.timeout(RUN_LIMIT + 30)
async def test_two_browsers_chat_through_the_demo_and_a_reload_loses_nothing(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(dev_mode=True)

    code, results, log = await run_browser(f"http://127.0.0.1:{node.port}")

    assert code == 0, f"browser run failed:\n{log}\n{results.get('error', '')}"
    # Nothing left the machine: every request went to the node itself.
    assert results["foreignRequests"] == []
    assert results["consoleErrors"] == []
    # The DM as alice sees it after coming back: four messages, each once, in order.
    assert results["dmSeqs"] == [1, 2, 3, 4]
    assert results["awayCopies"] == 2
    assert results["replayed"] >= 2
    assert results["cursorAfter"] != results["cursorBefore"]
    assert results["bobDmMessages"] == 4
    for shot in results["screenshots"]:
        assert await asyncio.to_thread(os.path.getsize, shot) > 10_000
