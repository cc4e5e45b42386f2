"""``realtime serve`` that cannot start says why in one line, with a hint, and exits 1:
no traceback unless ``--debug`` or ``REALTIME_DEBUG=1`` asks for one."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.served import environment, free_port, realtime_command, run


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port of 127.0.0.1 another process listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def env_for(tmp_path: Path, **settings: str) -> dict[str, str]:
    settings.setdefault("port", str(free_port()))
    settings.setdefault("api_port", str(free_port()))
    return environment(tmp_path / "data", **settings)


async def failure_line(env: dict[str, str], *args: str) -> str:
    """Run ``realtime serve``; assert it failed in one line and no traceback; the line."""
    code, out, err = await run(realtime_command("serve", *args), env)
    assert code == 1, (code, out, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "(hint: " in lines[0]
    return lines[0]


async def test_a_port_in_use(tmp_path: Path, taken_port: int) -> None:
    line = await failure_line(env_for(tmp_path, port=str(taken_port)))
    assert line.startswith(f"realtime serve: cannot listen on 127.0.0.1:{taken_port}: the "
                           "address is in use")
    assert "REALTIME_PORT" in line


async def test_the_api_port_in_use(tmp_path: Path, taken_port: int) -> None:
    line = await failure_line(env_for(tmp_path, api_port=str(taken_port)))
    assert f"127.0.0.1:{taken_port}" in line and "REALTIME_API_PORT" in line


async def test_postgresql_unreachable(tmp_path: Path) -> None:
    port = free_port()
    line = await failure_line(env_for(
        tmp_path, database_url=f"postgresql://rt:secret-pw@127.0.0.1:{port}/rt"))
    assert line.startswith(f"realtime serve: cannot reach the database at 127.0.0.1:{port}")
    assert "secret-pw" not in line


async def test_redis_unreachable(tmp_path: Path) -> None:
    port = free_port()
    line = await failure_line(env_for(tmp_path, redis_url=f"redis://127.0.0.1:{port}/0"))
    assert line.startswith(f"realtime serve: cannot reach Redis at 127.0.0.1:{port}")


@pytest.mark.parametrize(("setting", "url", "says"), [
    ("database_url", "postgresql://db.example:port/rt", "its port is not a number"),
    ("database_url", "mysql://db.example/rt", "its scheme is 'mysql'"),
    ("redis_url", "redis//localhost:6379", "its scheme is none"),
    ("redis_url", "redis://:6379/0", "it names no host"),
])
async def test_a_malformed_url(tmp_path: Path, setting: str, url: str, says: str) -> None:
    line = await failure_line(env_for(tmp_path, **{setting: url}))
    assert line.startswith(f"realtime serve: REALTIME_{setting.upper()} is malformed: {says}")


@pytest.mark.parametrize(("content", "says"), [
    (None, "no such file"),
    ("{not json", "not JSON"),
    ('{"type": "service_account"}', "not a service-account file"),
])
async def test_unreadable_fcm_credentials(tmp_path: Path, content: str | None,
                                          says: str) -> None:
    path = tmp_path / "account.json"
    if content is not None:
        path.write_text(content)
    line = await failure_line(env_for(tmp_path, fcm_credentials=str(path)))
    assert line.startswith(f"realtime serve: FCM credentials {path}: {says}")


async def test_a_database_schema_behind_the_release(tmp_path: Path, postgres_dsn: str) -> None:
    line = await failure_line(env_for(tmp_path, database_url=postgres_dsn))
    assert line.startswith("realtime serve: the database schema is behind this release")
    assert "realtime migrate" in line


async def test_json_logs_get_the_failure_as_one_json_line(tmp_path: Path,
                                                          taken_port: int) -> None:
    env = env_for(tmp_path, port=str(taken_port), log_format="json")
    code, _, err = await run(realtime_command("serve"), env)
    [line] = err.strip().splitlines()
    record = json.loads(line)
    assert code == 1
    assert (record["level"], record["event"]) == ("error", "failed")
    assert "address is in use" in record["msg"] and record["hint"]


@pytest.mark.parametrize("asked", ["--debug", "REALTIME_DEBUG=1"])
async def test_debug_shows_the_traceback(tmp_path: Path, taken_port: int, asked: str) -> None:
    env = env_for(tmp_path, port=str(taken_port))
    args: list[str] = []
    if asked.startswith("--"):
        args.append(asked)
    else:
        env["REALTIME_DEBUG"] = "1"
    code, _, err = await run(realtime_command("serve", *args), env)
    assert code != 0
    assert "Traceback" in err and "StartupFailure" in err
