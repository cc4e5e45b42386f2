"""The Python client installed alone, as a user of it would: its own wheel, built from
realtime_client/pyproject.toml, in a fresh virtual environment holding nothing but it,
websockets and msgspec (taken from this environment: no network). The examples then run
in that environment against a node: the echo bot answers, the terminal chat chats."""

from __future__ import annotations

import asyncio
import importlib.metadata
import shutil
import signal
import subprocess
import sys
import venv
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from protocol.frames import Message
from realtime.node import Node
from realtime_client import Client

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
WAIT = 20.0
"""Longest wait for any one line or message: it only bounds a failing test."""


def copy_distribution(name: str, site: Path) -> None:
    """Copy an installed distribution's files (code and metadata) into ``site``."""
    dist = importlib.metadata.distribution(name)
    for file in dist.files or []:
        source = Path(str(dist.locate_file(file)))
        if source.is_file() and not str(file).startswith(".."):
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


@pytest.fixture(scope="module")
def python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a fresh environment with the client installed alone."""
    root = tmp_path_factory.mktemp("client-alone")
    # Build from a copy, so that the build leaves nothing in the repository.
    source = root / "src"
    shutil.copytree(ROOT / "realtime_client", source / "realtime_client",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "protocol", source / "protocol",
                    ignore=shutil.ignore_patterns("__pycache__"))
    wheels = root / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--wheel-dir", str(wheels),
                    str(source / "realtime_client")], check=True, timeout=300)
    [wheel] = wheels.glob("realtime_client-*.whl")
    env = root / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    str(wheel)], check=True, timeout=300)
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True).stdout.strip())
    for name in ("websockets", "msgspec"):
        copy_distribution(name, site)
    return python


def test_the_client_installs_with_only_websockets_and_msgspec(python: Path) -> None:
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"],
                            check=True, capture_output=True, text=True).stdout
    names = {line.split("==")[0].lower() for line in listed.split()}
    assert names - {"pip", "setuptools"} == {"realtime-client", "websockets", "msgspec"}
    check = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    probe = ("import importlib.util as u, realtime_client, protocol; "
             "print(sorted(m for m in ('aiohttp', 'asyncpg', 'pyfcm', 'redis', 'realtime') "
             "if u.find_spec(m)))")
    found = subprocess.run([str(python), "-c", probe], cwd=python.parent, check=True,
                           capture_output=True, text=True).stdout.strip()
    assert found == "[]"


@pytest.fixture
async def bot(python: Path, node: Node) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        str(python), str(EXAMPLES / "echo_bot.py"), "--url", node.ws_url,
        "--token", node.token("bot"), cwd=python.parent,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    async with asyncio.timeout(WAIT):
        return (await process.stdout.readline()).decode().rstrip("\n")


async def message_from(client: Client, user: str) -> Message:
    while True:
        message = await client.next_event(Message, timeout=WAIT)
        if message.from_ == user:
            return message


async def test_the_example_bot_answers_a_dm_from_the_lone_client(
    node: Node, bot: asyncio.subprocess.Process,
) -> None:
    assert await line(bot) == "ready as bot"
    async with Client(node.ws_url, node.token("alice")) as alice:
        ack = await alice.send("hello bot", to="bot")
        echo = await message_from(alice, "bot")
        assert await line(bot) == f"answered alice in {ack.thread}"
    assert (echo.thread, echo.body) == (ack.thread, "echo: hello bot")
    bot.send_signal(signal.SIGTERM)
    async with asyncio.timeout(WAIT):
        assert await bot.wait() == 0


async def test_the_terminal_chat_sends_lines_and_shows_replies(python: Path, node: Node) -> None:
    chat = await asyncio.create_subprocess_exec(
        str(python), str(EXAMPLES / "terminal_chat.py"), "--url", node.ws_url,
        "--token", node.token("carol"), "--to", "alice", cwd=python.parent,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    assert chat.stdin is not None
    try:
        assert (await line(chat)).startswith("connected as carol")
        async with Client(node.ws_url, node.token("alice")) as alice:
            chat.stdin.write(b"hello alice\n")
            await chat.stdin.drain()
            said = await message_from(alice, "carol")
            await alice.send("hi carol", to="carol")
            shown = await line(chat)
        chat.stdin.write(b"/quit\n")
        await chat.stdin.drain()
        async with asyncio.timeout(WAIT):
            assert await chat.wait() == 0
    finally:
        if chat.returncode is None:
            chat.kill()
            await chat.wait()
    assert said.body == "hello alice" and said.thread == "dm:alice:carol"
    assert shown.endswith("] alice: hi carol")
