"""A ``realtime serve`` process as operators run it, with its logs kept apart from what it
prints, for the operations tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOUND = 30.0
"""Longest wait for a process to start or stop: it only bounds a failing test."""
SECRET = "ops-test-secret-with-enough-entropy-0123456789"
API_KEY = "ops-test-api-key-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(data_dir: Path, **settings: str) -> dict[str, str]:
    """A clean environment: no REALTIME_* from outside, fixed secrets, loopback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALTIME_")}
    env.update(PYTHONPATH=str(ROOT), REALTIME_DATA_DIR=str(data_dir),
               REALTIME_HOST="127.0.0.1", REALTIME_JWT_SECRET=SECRET,
               REALTIME_API_KEY=API_KEY, REALTIME_LOG_LEVEL="warning")
    env.update({"REALTIME_" + k.upper(): v for k, v in settings.items()})
    return env


@dataclass
class Served:
    """A running node process: its ports, and every line it wrote to stdout and stderr."""

    proc: asyncio.subprocess.Process
    port: int
    api_port: int
    env: dict[str, str]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    async def exit_code(self) -> int:
        async with asyncio.timeout(BOUND):
            return await self.proc.wait()


@asynccontextmanager
async def serving(command: Sequence[str], env: dict[str, str], *,
                  cwd: Path = ROOT) -> AsyncIterator[Served]:
    """Run ``command`` (a ``realtime serve``) on free ports until it prints ``serving``;
    kill it at the end if it still runs. Another program may take a probed free port
    before the node binds it: then other ports are tried."""
    for _ in range(3):
        env = {**env, "REALTIME_PORT": str(free_port()), "REALTIME_API_PORT": str(free_port())}
        proc = await asyncio.create_subprocess_exec(
            *command, cwd=cwd, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        served = Served(proc, int(env["REALTIME_PORT"]), int(env["REALTIME_API_PORT"]), env)
        readers = [asyncio.create_task(_collect(proc.stderr, served.stderr))]
        try:
            async with asyncio.timeout(BOUND):
                while line := await proc.stdout.readline():
                    served.stdout.append(line.decode())
                    if announces_serving(line.decode()):
                        break
        except BaseException:
            proc.kill()
            await proc.wait()
            await asyncio.gather(*readers)
            raise
        if proc.returncode is None and served.stdout[-1:] and \
                announces_serving(served.stdout[-1]):
            # Keep reading, so that the pipes can never fill and block the node.
            readers.append(asyncio.create_task(_collect(proc.stdout, served.stdout)))
            try:
                yield served
            finally:
                if proc.returncode is None:
                    proc.kill()
                await proc.wait()
                await asyncio.gather(*readers)
            return
        await proc.wait()  # it exited before serving
        await asyncio.gather(*readers)
    raise AssertionError("".join(served.stdout + served.stderr))


def announces_serving(line: str) -> bool:
    """Whether ``line`` of a node's stdout says it serves: ``serving ...``, or with JSON
    logs the same as a JSON object whose ``event`` is ``serving``."""
    if line.startswith("serving "):
        return True
    if not line.startswith("{"):
        return False
    try:
        return bool(json.loads(line).get("event") == "serving")
    except ValueError:
        return False


def realtime_command(*args: str) -> list[str]:
    """``realtime ARGS`` run from the source tree."""
    return [sys.executable, "-m", "realtime.cli", *args]


async def run(command: Sequence[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run ``command`` to completion: (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(BOUND):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _collect(stream: asyncio.StreamReader, into: list[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode())
