"""The demo page in a real browser: two users chat, type, read, like, react, edit, reply
with a photo and unsend, run a group (create, add, rename, mute, leave) and block, and
their pages lose nothing across a node restart or a reload.

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
from collections.abc import Awaitable, Callable
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


Checkpoint = Callable[[], Awaitable[None]]


async def run_browser(base_url: str, checkpoints: dict[str, Checkpoint],
                      ) -> tuple[int, dict[str, Any], str]:
    """Run the browser script, doing what it asks at its checkpoints; return its exit
    code, its JSON results and its log."""
    process = await asyncio.create_subprocess_exec(
        "node", str(SCRIPT), base_url, str(ARTIFACTS),
        cwd=HERE, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "CHROMIUM": CHROMIUM},
    )
    assert process.stdin is not None and process.stdout is not None
    assert process.stderr is not None
    stdin, stdout, stderr = process.stdin, process.stdout, process.stderr
    results: dict[str, Any] = {}

    async def converse() -> None:
        async for line in stdout:
            said = json.loads(line)
            if "checkpoint" in said:
                await checkpoints[said["checkpoint"]]()
                stdin.write(b"done\n")
                await stdin.drain()
            else:
                results.update(said)

    try:
        async with asyncio.timeout(RUN_LIMIT), asyncio.TaskGroup() as tasks:
            tasks.create_task(converse())
            log = tasks.create_task(stderr.read())
            tasks.create_task(process.wait())
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode or 0, results, log.result().decode()


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
@pytest.mark.timeout(RUN_LIMIT + 30)
async def test_two_browsers_chat_through_the_demo_and_a_reload_loses_nothing(
    node_factory: NodeFactory,
) -> None:
    node = await node_factory(dev_mode=True)
    port, data_dir = node.port, node.config.data_dir

    async def restart_node() -> None:
        await node.drain()
        restarted = await node_factory(dev_mode=True, port=port, data_dir=data_dir)
        dm = await restarted.messaging.find_thread("dm:alice:bob")
        await restarted.messaging.post(dm, None, "posted while the node restarted")

    code, results, log = await run_browser(f"http://127.0.0.1:{port}",
                                           {"restart-node": restart_node})

    assert code == 0, f"browser run failed:\n{log}\n{results.get('error', '')}"
    # Nothing left the machine: every request went to the node itself.
    assert results["foreignRequests"] == []
    assert results["consoleErrors"] == [], results["consoleErrors"]
    # Both pages were closed by the drain, and came back by themselves.
    assert results["closeCodes"] == [1012, 1012]
    # The DM as alice sees it after coming back: five messages, each once, in order.
    assert results["dmSeqs"] == [1, 2, 3, 4, 5]
    assert results["awayCopies"] == 2
    assert results["replayed"] >= 2
    assert results["cursorAfter"] != results["cursorBefore"]
    assert results["bobDmMessages"] == 5
    # The life of a message in the lobby: a reaction, an edit, a reply with a photo shown
    # as a thumbnail, and an unsend that leaves nothing of the text on bob's page.
    assert results["reactionTitle"] == "bob"
    assert results["editedReactions"] == 1
    assert results["thumbnailWidth"] == 1
    assert results["unsentLeft"] == 0
    # Groups, blocking and muting from the page.
    assert results["bobManages"] is True  # not an admin: rename and add are disabled
    assert results["bobMuted"] is True
    assert "bob" not in results["groupMembersAfterLeave"]
    assert results["bobSeesBlock"] is False and results["blockedArrived"] == 0
    assert {"body": "", "deleted": True} in results["bobLobbyHistory"]
    assert all("hello lobby" not in m["body"] for m in results["bobLobbyHistory"])
    for shot in results["screenshots"]:
        assert await asyncio.to_thread(os.path.getsize, shot) > 10_000
