"""Structured logs: JSON when asked, the node, connection and user on each line they
concern, and never a credential."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from realtime import logs
from realtime.auth import mint_token
from tests.ops.served import API_KEY, SECRET, environment, realtime_command, serving


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger's output in JSON, secrets known, restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    logs.configure("debug", "json", secrets=[SECRET, API_KEY], stream=stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


async def test_json_logs_of_a_node_parse_and_name_the_node_connection_and_user(
        tmp_path: Path) -> None:
    env = environment(tmp_path / "data", log_format="json", log_level="debug",
                      node_id="ops-node-1")
    token = mint_token(SECRET, "alice", ttl=3600)
    async with serving(realtime_command("serve"), env) as served:
        async with connect(f"{served.ws_url}?token={token}", proxy=None) as ws:
            await ws.recv()
        served.terminate()
        assert await served.exit_code() == 0
    records = [json.loads(line) for line in served.stderr]
    assert records and all(r["node"] == "ops-node-1" for r in records)
    assert any(r.get("connection") and r.get("user") == "alice" for r in records)


async def test_a_token_never_reaches_the_logs(tmp_path: Path) -> None:
    env = environment(tmp_path / "data", log_format="json", log_level="debug")
    token = mint_token(SECRET, "alice", ttl=3600)
    async with serving(realtime_command("serve"), env) as served:
        async with connect(f"{served.ws_url}?token={token}", proxy=None) as ws:
            await ws.recv()
            # The token in a frame too: a body, and a refresh the node must verify.
            await ws.send(json.dumps({"type": "refresh", "token": token + "x", "id": 1}))
            await ws.recv()
        async with connect(served.ws_url, proxy=None,
                           additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            await ws.recv()
        served.terminate()
        assert await served.exit_code() == 0
    output = "".join(served.stderr)
    assert "session opened" in output  # the debug lines were written
    for credential in (token, token.split(".")[2], SECRET, API_KEY):
        assert credential not in output


def test_a_jwt_in_a_message_is_redacted(captured: io.StringIO) -> None:
    token = mint_token(SECRET, "bob", ttl=60)
    logging.getLogger("t").warning("bad token %s", token)
    assert token not in captured.getvalue()
    assert json.loads(captured.getvalue())["msg"] == f"bad token {logs.REDACTED}"


@pytest.mark.parametrize("line, hidden", [
    ("GET /ws?token=abc.def&cursor=1", "abc.def"),
    ("Authorization: Bearer s3cr3t-value", "s3cr3t-value"),
    ("connecting to postgresql://app:hunter2@db:5432/x", "hunter2"),
    ("redis://:pa55word@redis:6379/0 is down", "pa55word"),
    (f"key {API_KEY} refused", API_KEY),
])
def test_credentials_in_logged_text_are_redacted(captured: io.StringIO, line: str,
                                                 hidden: str) -> None:
    logging.getLogger("t").info(line)
    record = json.loads(captured.getvalue())
    assert hidden not in record["msg"] and logs.REDACTED in record["msg"]


def test_a_traceback_is_part_of_the_json_record_and_scrubbed(captured: io.StringIO) -> None:
    token = mint_token(SECRET, "bob", ttl=60)
    try:
        raise ValueError(f"token {token} rejected")
    except ValueError:
        logging.getLogger("t").exception("failed")
    record = json.loads(captured.getvalue())
    assert "ValueError" in record["exc"] and token not in record["exc"]


def test_text_logs_carry_the_ids_too() -> None:
    stream = io.StringIO()
    record = logging.makeLogRecord({"msg": "hello", "levelname": "INFO", "name": "t"})
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.ContextFilter())
    handler.setFormatter(logs.TextFormatter(logs.Scrubber()))
    logs.bind_node("n1")
    try:
        handler.handle(record)
    finally:
        logs.bind_node("")
    assert "[node=n1] hello" in stream.getvalue()
