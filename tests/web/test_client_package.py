"""The browser client as an npm package (realtime/web): packed with npm, installed into
a fresh folder, run under Node.js with the ``ws`` WebSocket against a running node (it
reconnects with its cursor across a node restart and loses nothing), and its TypeScript
declarations checked with ``tsc --strict``; and in Chromium, where a page imports the
installed package and goes through the same restart.
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
from tests.web.test_browser_demo import CHROMIUM
from tests.web.test_browser_demo import MISSING as BROWSER_MISSING

HERE = Path(__file__).parent
PACKAGE = HERE.parent.parent / "realtime" / "web"
TOOLS = HERE / "node_modules"
NAME = "@realtime-server/client"
RUN_LIMIT = 60.0


def missing() -> str | None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "no Node.js/npm on PATH"
    for tool in ("ws", "typescript", "playwright-core"):
        if not (TOOLS / tool / "package.json").is_file():
            return f"{tool} is not installed (npm ci in tests/web)"
    return None


MISSING = missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def npm(*args: str, cwd: Path) -> str:
    done = subprocess.run(["npm", *args, "--no-audit", "--no-fund", "--loglevel=error"],
                          cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the packed package installed from its tarball (as a user would get
    it), plus ws and typescript from the test tools."""
    root = tmp_path_factory.mktemp("client-package")
    tarball = json.loads(npm("pack", str(PACKAGE), "--pack-destination", str(root), "--json",
                             cwd=root))[0]["filename"]
    app = root / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "app", "private": true, "type": "module"}')
    npm("install", "--offline", str(root / tarball), cwd=app)
    for tool in ("ws", "typescript", "playwright-core"):
        (app / "node_modules" / tool).symlink_to(TOOLS / tool)
    for script in ("client_node.mjs", "client_browser.mjs", "client_types.ts"):
        shutil.copy(HERE / script, app / script)
    return app


def test_the_package_ships_the_module_its_declarations_and_a_readme() -> None:
    packed = json.loads(npm("pack", "--dry-run", "--json", str(PACKAGE), cwd=PACKAGE))[0]
    assert sorted(f["path"] for f in packed["files"]) == [
        "README.md", "client.d.ts", "client.js", "package.json"]
    manifest = json.loads((PACKAGE / "package.json").read_text())
    assert manifest["type"] == "module"
    assert manifest["exports"]["."] == {"types": "./client.d.ts", "default": "./client.js"}


def test_the_declarations_type_an_app_and_refuse_its_mistakes(app: Path) -> None:
    tsc = app / "node_modules" / "typescript" / "bin" / "tsc"
    done = subprocess.run(
        ["node", str(tsc), "--strict", "--noEmit", "--target", "es2022", "--module",
         "nodenext", "--moduleResolution", "nodenext", "--lib", "es2022,dom",
         "client_types.ts"], cwd=app, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


async def run_client(app: Path, script: str, url: str, alice: str, bob: str,
                     restart: Any) -> tuple[int, dict[str, Any], str]:
    process = await asyncio.create_subprocess_exec(
        "node", script, url, alice, bob, cwd=app,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "CHROMIUM": CHROMIUM})
    assert process.stdin and process.stdout and process.stderr
    stdin, stdout, stderr = process.stdin, process.stdout, process.stderr
    results: dict[str, Any] = {}

    async def converse() -> None:
        async for line in stdout:
            said = json.loads(line)
            if "checkpoint" in said:
                await restart()
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


async def restart_cycle(app: Path, script: str,
                        node_factory: NodeFactory) -> tuple[int, dict[str, Any], str]:
    """Run ``script``; at its checkpoint, restart the node and post a DM while it is down."""
    node = await node_factory()
    port, data_dir = node.port, node.config.data_dir

    async def restart_node() -> None:
        await node.drain()
        # Posted through a node on another port, so that it is stored before the client
        # can possibly reconnect: it must come back by replay from the cursor.
        meanwhile = await node_factory(data_dir=data_dir)
        dm = await meanwhile.messaging.find_thread("dm:alice:bob")
        await meanwhile.messaging.post(dm, "bob", "posted while the node was down")
        await meanwhile.close()
        await node_factory(port=port, data_dir=data_dir)

    return await run_client(app, script, f"ws://127.0.0.1:{port}/ws", node.token("alice"),
                            node.token("bob"), restart_node)


@pytest.mark.timeout(RUN_LIMIT + 30)
async def test_under_node_it_reconnects_with_its_cursor_and_loses_nothing(
    app: Path, node_factory: NodeFactory,
) -> None:
    code, results, log = await restart_cycle(app, "client_node.mjs", node_factory)
    assert code == 0, f"client run failed:\n{log}"
    assert results["user"] == "alice"
    assert results["thread"] == results["expectedThread"] == "dm:alice:bob"
    # Dropped by the drain (1012), waited, came back by itself and resumed from its cursor.
    assert "waiting:1012" in results["states"] and results["finalState"] == "open"
    assert results["resumed"]["replayed"] >= 1 and results["cursorMoved"]
    # Every message once, in order.
    assert results["received"] == [[1, "bob", "one"], [2, "bob", "posted while the node was down"]]
    assert results["history"] == ["one", "posted while the node was down"]


@pytest.mark.skipif(BROWSER_MISSING is not None, reason=BROWSER_MISSING or "")
@pytest.mark.timeout(RUN_LIMIT + 30)
async def test_in_chromium_the_installed_package_reconnects_with_its_cursor(
    app: Path, node_factory: NodeFactory,
) -> None:
    code, results, log = await restart_cycle(app, "client_browser.mjs", node_factory)
    assert code == 0, f"browser run failed:\n{log}"
    assert results["consoleErrors"] == []
    assert results["user"] == "alice" and results["finalState"] == "open"
    assert "waiting:1012" in results["states"]
    assert results["resumed"]["replayed"] >= 1
    assert results["received"] == [[1, "bob", "one"], [2, "bob", "posted while the node was down"]]
    assert results["history"] == ["one", "posted while the node was down"]
