"""Development mode is for a machine of one's own: it starts only when neither a token
secret nor an API key is configured, listens on loopback unless told otherwise, and its
secrets are read (never made up) by ``realtime token``, ``realtime dev-key`` and the load
harness. A configured secret or key is never printed or logged."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from loadtest.options import add_arguments, from_args
from tests.ops.served import API_KEY, BOUND, SECRET, environment, realtime_command, run, serving


def dev_environment(data_dir: Path, **settings: str) -> dict[str, str]:
    """An environment with no secret, no key and no host: development mode's defaults."""
    env = environment(data_dir, **settings)
    for name in ("REALTIME_JWT_SECRET", "REALTIME_API_KEY", "REALTIME_HOST"):
        if name.removeprefix("REALTIME_").lower() not in settings:
            del env[name]
    return env


@pytest.mark.parametrize(("present", "missing"), [
    ("REALTIME_JWT_SECRET", "REALTIME_API_KEY"),
    ("REALTIME_API_KEY", "REALTIME_JWT_SECRET"),
])
async def test_a_secret_without_a_key_or_a_key_without_a_secret_refuses_to_start(
        tmp_path: Path, present: str, missing: str) -> None:
    env = environment(tmp_path / "data")
    del env[missing]
    env["REALTIME_LOG_LEVEL"] = "debug"
    code, out, err = await run(realtime_command("serve"), env)
    assert code != 0
    assert len(err.strip().splitlines()) == 1, err
    assert missing in err
    assert SECRET not in out + err and API_KEY not in out + err
    assert not (tmp_path / "data" / "dev-secrets.json").exists()


async def test_a_configured_secret_and_key_are_never_printed_or_logged(tmp_path: Path) -> None:
    env = environment(tmp_path / "data", log_level="debug")
    async with serving(realtime_command("serve"), env) as node:
        node.terminate()
        assert await node.exit_code() == 0
    printed = "".join(node.stdout + node.stderr)
    assert SECRET not in printed and API_KEY not in printed
    assert "development mode" not in printed.lower()


def accepts_on(address: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(BOUND)
        return s.connect_ex((address, port)) == 0


async def test_development_mode_listens_on_loopback_only_and_says_so(tmp_path: Path) -> None:
    async with serving(realtime_command("serve"), dev_environment(tmp_path / "data")) as node:
        # Every 127.x address reaches this machine, but only a socket bound to all of
        # them (0.0.0.0) accepts on 127.0.0.2.
        assert accepts_on("127.0.0.1", node.port)
        assert not accepts_on("127.0.0.2", node.port)
        assert not accepts_on("127.0.0.2", node.api_port)
    assert "listening on 127.0.0.1 only" in "".join(node.stdout)


async def test_development_mode_listens_where_a_host_is_given(tmp_path: Path) -> None:
    env = dev_environment(tmp_path / "data", host="0.0.0.0")
    async with serving(realtime_command("serve"), env) as node:
        assert accepts_on("127.0.0.2", node.port)


async def test_a_configured_node_listens_on_every_interface_by_default(tmp_path: Path) -> None:
    env = environment(tmp_path / "data")
    del env["REALTIME_HOST"]
    async with serving(realtime_command("serve"), env) as node:
        assert accepts_on("127.0.0.2", node.port)


async def test_token_without_development_secrets_fails_in_one_line_and_makes_none(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, out, err = await run(realtime_command("token", "alice"), dev_environment(data))
    assert code != 0
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert str(data / "dev-secrets.json") in err and "realtime serve" in err
    assert not data.exists()


async def test_dev_key_without_development_secrets_fails_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, out, err = await run(realtime_command("dev-key"), dev_environment(data))
    assert code != 0
    assert out == ""
    assert str(data / "dev-secrets.json") in err
    assert not data.exists()


async def test_dev_key_never_prints_a_configured_key(tmp_path: Path) -> None:
    env = environment(tmp_path / "data")
    del env["REALTIME_JWT_SECRET"]
    code, out, err = await run(realtime_command("dev-key"), env)
    assert code != 0
    assert API_KEY not in out + err


async def test_token_and_dev_key_read_the_secrets_of_the_running_node(tmp_path: Path) -> None:
    env = dev_environment(tmp_path / "data")
    async with serving(realtime_command("serve"), env) as node:
        code, token, err = await run(realtime_command("token", "alice"), env)
        assert code == 0, err
        code, key, err = await run(realtime_command("dev-key"), env)
        assert code == 0, err
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"{node.ws_url}?token={token.strip()}") as ws:
                welcome = await ws.receive_json(timeout=BOUND)
                assert welcome["type"] == "welcome" and welcome["user"] == "alice"
            url = f"http://127.0.0.1:{node.api_port}/v1/presence?users=alice"
            async with http.get(url, headers={"X-API-Key": key.strip()}) as response:
                assert response.status == 200
    printed = "".join(node.stdout + node.stderr)
    assert token.strip() not in printed and key.strip() not in printed


async def test_the_load_harness_finds_the_development_secrets_itself(tmp_path: Path) -> None:
    env = dev_environment(tmp_path / "data")
    async with serving(realtime_command("serve"), env):
        pass
    stored = json.loads((tmp_path / "data" / "dev-secrets.json").read_text())
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = from_args(parser.parse_args(["dm", "--data-dir", str(tmp_path / "data")]))
    options.check()
    assert options.secret == stored["jwt_secret"] and options.api_key == stored["api_key"]
    given = from_args(parser.parse_args(["dm", "--data-dir", str(tmp_path / "data"),
                                         "--secret", "mine-" * 8]))
    assert given.secret == "mine-" * 8 and given.api_key != stored["api_key"]


async def test_the_harness_runs_against_a_development_node_with_no_secrets_given(
        tmp_path: Path) -> None:
    env = dev_environment(tmp_path / "data")
    async with serving(realtime_command("serve"), env) as node:
        command = ["-m", "loadtest", "dm", "--url", node.ws_url, "--connections", "2",
                   "--rate", "20", "--duration", "1", "--drain", "5", "--no-live",
                   "--data-dir", str(tmp_path / "data")]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *command, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        async with asyncio.timeout(BOUND * 2):
            _, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
