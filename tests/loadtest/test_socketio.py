"""The Socket.IO baseline, started by the harness (npm ci, then Socket.IO 4.8 on Node),
driven by the same scenarios as the relay through the generator's Socket.IO adapter.

Skipped, with the reason, where node or npm is not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from loadtest import targets
from loadtest.links import AiohttpDialer, LinkRefused
from loadtest.options import Options
from loadtest.runner import run
from loadtest.socketio_links import SocketIODialer
from loadtest.socketio_server import SocketIOUnavailable, check_tools, install

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def socketio_folder() -> Path:
    """The installed server; the test is skipped where node or npm is missing (an npm
    install that fails where they exist is a failure, not a skip)."""
    try:
        check_tools()
    except SocketIOUnavailable as exc:
        pytest.skip(str(exc))
    return install()


@pytest.fixture
def server_log(tmp_path: Path) -> Iterator[IO[bytes]]:
    with open(tmp_path / "socketio.log", "ab") as log:
        yield log


@pytest.fixture
async def socketio(socketio_folder: Path, server_log: IO[bytes]) -> AsyncIterator[targets.Server]:
    async with targets.socketio(None, socketio_folder, server_log) as server:
        yield server


def socketio_options(server: targets.Server, scenario: str, **changes: Any) -> Options:
    base: dict[str, Any] = {
        "scenario": scenario,
        "target": "socketio",
        "urls": (server.ws_url,),
        "api_urls": (server.api_url,),
        "connections": 10,
        "rate": 100.0,
        "duration": 1.0,
        "live": False,
    }
    base.update(changes)
    return Options(**base)


async def test_dm_through_socketio_delivers_every_message_once(
    socketio: targets.Server,
) -> None:
    report = await run(socketio_options(socketio, "dm"))
    summary = report["summary"]
    assert summary["sent"] == 100
    assert summary["delivered"] == 100
    assert (summary["lost"], summary["duplicates"], summary["connect_failed"]) == (0, 0, 0)
    assert summary["latency_ms"]["count"] == 100


async def test_dm_through_socketio_reads_the_servers_cpu_from_its_metrics(
    socketio: targets.Server,
) -> None:
    report = await run(socketio_options(socketio, "dm"))
    assert report["server"]["cpu_seconds"] > 0
    assert report["summary"]["cpu_us_per_delivery"] > 0
    assert report["server"]["rss_end"] > 0


async def test_dm_through_socketio_from_two_workers_with_the_websockets_client(
    socketio: targets.Server,
) -> None:
    report = await run(socketio_options(socketio, "dm", workers=2, client="websockets"))
    assert report["summary"]["delivered"] == 100
    assert report["summary"]["lost"] == 0


async def test_fanout_through_socketio_reaches_every_other_member(
    socketio: targets.Server,
) -> None:
    report = await run(socketio_options(socketio, "fanout", rate=20.0))
    assert report["summary"]["delivered"] == 20 * 9
    assert report["summary"]["lost"] == 0


async def test_idle_connections_outlive_several_heartbeats(
    socketio_folder: Path, server_log: IO[bytes],
) -> None:
    # Pings every 100 ms, closed 2 s after a ping without a pong: a generator that did not
    # answer them would find its connections closed by the end of a 3.5 s hold. (A stall
    # of the generator shorter than 2 s cannot close them.)
    async with targets.socketio(None, socketio_folder, server_log,
                                heartbeat_ms=(100, 2000)) as server:
        report = await run(socketio_options(server, "idle", connections=20, duration=3.5))
    assert report["summary"]["still_open"] == 20
    assert report["summary"]["memory_per_connection_kb"] > 0


async def test_dm_across_two_socketio_servers_on_redis_delivers_every_message_once(
    socketio_folder: Path, server_log: IO[bytes], redis_url: str,
) -> None:
    # With two URLs the two sides of every pair are on different servers: every DM
    # crosses Redis through Socket.IO's Redis adapter.
    async with targets.socketio(None, socketio_folder, server_log, redis_url=redis_url) as a, \
            targets.socketio(None, socketio_folder, server_log, redis_url=redis_url) as b:
        options = socketio_options(a, "dm").replace(urls=(a.ws_url, b.ws_url),
                                                     api_urls=(a.api_url, b.api_url))
        report = await run(options)
    summary = report["summary"]
    assert summary["delivered"] == 100
    assert (summary["lost"], summary["duplicates"], summary["connect_failed"]) == (0, 0, 0)


async def test_a_connection_that_names_no_user_is_refused(socketio: targets.Server) -> None:
    async with SocketIODialer(AiohttpDialer()) as dialer:
        with pytest.raises(LinkRefused, match="user is required"):
            await dialer.dial(socketio.ws_url, headers={}, protocols=())


def _baseline(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadtest", "baseline", "--targets", "relay,socketio",
         "--scenarios", "dm", "--rounds", "1", "--duration", "0.5", "--dm-connections", "5",
         "--dm-rate", "50", "--server-cpu", "", "--json", str(tmp_path / "out.json")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=110, check=False)


def test_the_baseline_reports_socketio_beside_the_relay(
    socketio_folder: Path, tmp_path: Path,
) -> None:
    done = _baseline(tmp_path, dict(os.environ))
    assert done.returncode == 0, done.stderr
    dm = json.loads((tmp_path / "out.json").read_text())["scenarios"]["dm"]
    assert dm["socketio"]["lost"]["max"] == 0
    assert dm["relay"]["lost"]["max"] == 0
    assert "Socket.IO" in done.stdout


def test_the_baseline_without_node_says_socketio_was_skipped_and_runs_the_rest(
    tmp_path: Path,
) -> None:
    env = dict(os.environ, PATH=str(tmp_path / "empty"))
    done = _baseline(tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert "Socket.IO baseline skipped: `node` is not on PATH" in done.stderr + done.stdout
    dm = json.loads((tmp_path / "out.json").read_text())["scenarios"]["dm"]
    assert "socketio" not in dm
    assert dm["relay"]["lost"]["max"] == 0
