"""A local cluster to load: ``realtime serve`` processes on one Redis and one PostgreSQL.

:class:`NodeProcess` is one node as a process of its own (its own process group), which
can be killed, drained and restarted on the same ports, so that clients reconnecting to
its URL find it again. :class:`LocalCluster` starts PostgreSQL and Redis
(:mod:`loadtest.servers`), migrates the schema, and starts the nodes with one secret and
API key and the limits raised for load; fault runs take any part away and bring it back.

``python -m loadtest cluster [--nodes 3]`` runs one until interrupted and prints the
flags that point the other commands at it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp

from loadtest.help_text import prog
from loadtest.servers import PostgresProcess, RedisProcess, free_port
from realtime.auth import mint_token

__all__ = ["LOAD_SETTINGS", "LocalCluster", "NodeFailed", "NodeProcess", "base_env", "migrate"]

ROOT = Path(__file__).resolve().parents[1]
START = 30.0
"""Longest wait for a node to become ready or to exit: it only bounds a failure."""

LOAD_SETTINGS: dict[str, Any] = {
    "limit_rate": 100_000,
    "limit_burst": 100_000,
    "limit_connections": 19_500,
    "log_level": "warning",
}
"""Settings of a node under load: the per-connection rate limit is for abusers, not for a
generator that multiplexes many users' sends."""


class NodeFailed(RuntimeError):
    """A node process exited or never became ready."""


class NodeProcess:
    """One ``realtime serve`` process.

    ``env`` is its whole environment, with ``REALTIME_NODE_ID`` and
    ``REALTIME_JWT_SECRET``; the ports are chosen at the first :meth:`start` and kept by
    every later one. Its log (stderr) is appended to ``log_path``.
    """

    def __init__(self, index: int, env: dict[str, str], log_path: Path,
                 http: aiohttp.ClientSession) -> None:
        self.index = index
        self.node_id = env["REALTIME_NODE_ID"]
        self.log_path = log_path
        self.port = 0
        self.api_port = 0
        self._env = env
        self._http = http
        self._proc: asyncio.subprocess.Process | None = None

    def __repr__(self) -> str:
        return f"<NodeProcess {self.node_id} ws={self.port} api={self.api_port}>"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def token(self, user: str, ttl: int = 3600) -> str:
        """A client token for ``user``, valid on every node of the cluster."""
        return mint_token(self._env["REALTIME_JWT_SECRET"], user, ttl=ttl)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Start the process and return once ``/readyz`` answers 200.

        The first start probes two free ports, which the node then binds; if another
        program takes one in between, the node exits and is started again on others.
        A restart uses the same ports, so that clients find the node where it was.
        """
        failure = ""
        for attempt in range(3):
            if not self.port or attempt:
                self.port, self.api_port = free_port(), free_port()
            env = {**self._env, "REALTIME_PORT": str(self.port),
                   "REALTIME_API_PORT": str(self.api_port)}
            log = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "realtime.cli", "serve", cwd=ROOT, env=env,
                    stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                    stderr=log, start_new_session=True,
                )
            finally:
                os.close(log)  # the child holds its own copy
            try:
                await self._wait_ready()
                return
            except NodeFailed as exc:
                failure = str(exc)
                await self.kill()
        raise NodeFailed(f"{self.node_id} did not start: {failure}\n{self.log_tail()}")

    async def _wait_ready(self) -> None:
        proc = self._proc
        assert proc is not None
        deadline = asyncio.get_running_loop().time() + START
        while True:
            if proc.returncode is not None:
                raise NodeFailed(f"exited with {proc.returncode}")
            if await self.ready():
                return
            if asyncio.get_running_loop().time() > deadline:
                raise NodeFailed(f"not ready after {START} s")
            await asyncio.sleep(0.05)  # a poll interval, not a wait for the outcome

    async def ready(self) -> bool:
        """Whether ``/readyz`` answers 200 right now."""
        try:
            async with self._http.get(f"{self.api_url}/readyz",
                                      timeout=aiohttp.ClientTimeout(total=5)) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def kill(self) -> None:
        """SIGKILL the node's process group (a crash: nothing is drained) and reap it."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()

    async def terminate(self) -> int:
        """SIGTERM the node (a drain) and return its exit code once it has exited."""
        proc = self._proc
        assert proc is not None
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(START):
            return await proc.wait()

    async def restart(self) -> None:
        """Stop the node if it runs (SIGTERM) and start it again: same id, data dir
        and ports."""
        if self.running:
            await self.terminate()
        await self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def base_env() -> dict[str, str]:
    """This process's environment without any ``REALTIME_*``, with the source tree on
    ``PYTHONPATH``: only what the caller sets reaches a node."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALTIME_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


async def migrate(database_url: str) -> None:
    """Run ``realtime migrate`` against ``database_url``; raise with its output if it fails."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "realtime.cli", "migrate", "--database-url", database_url,
        cwd=ROOT, env=base_env(), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(START):
        out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise NodeFailed(f"realtime migrate failed:\n{out.decode(errors='replace')}")


def node_env(index: int, *, secret: str, api_key: str, data_dir: Path, database_url: str,
             redis_url: str, settings: dict[str, Any]) -> dict[str, str]:
    """The environment of node ``index``; ``settings`` by field name
    (``presence_ttl=3`` becomes ``REALTIME_PRESENCE_TTL=3``)."""
    env = base_env()
    env.update(
        REALTIME_HOST="127.0.0.1",
        REALTIME_NODE_ID=f"node{index}",
        REALTIME_JWT_SECRET=secret,
        REALTIME_API_KEY=api_key,
        REALTIME_DATA_DIR=str(data_dir),
        REALTIME_DATABASE_URL=database_url,
        REALTIME_REDIS_URL=redis_url,
        REALTIME_LOG_LEVEL="info",
    )
    env.update({f"REALTIME_{name.upper()}": str(value) for name, value in settings.items()})
    return env


class LocalCluster:
    """PostgreSQL, Redis and ``nodes`` node processes on this machine.

    ``async with LocalCluster(3) as cluster:`` starts them all (PostgreSQL's ``initdb``
    included: a few seconds) and removes them all on exit, logs and data with them
    unless ``keep`` names a directory for the node logs. ``settings`` override
    :data:`LOAD_SETTINGS` by field name.
    """

    def __init__(self, nodes: int = 3, *, keep: str | None = None, **settings: Any) -> None:
        self.size = nodes
        self.secret = secrets.token_urlsafe(32)
        self.api_key = secrets.token_urlsafe(16)
        self.settings = {**LOAD_SETTINGS, **settings}
        self.keep = keep
        self.postgres: PostgresProcess | None = None
        self.redis: RedisProcess | None = None
        self.database_url = ""
        self.nodes: list[NodeProcess] = []
        self._dir = Path(tempfile.mkdtemp(prefix="loadtest-cluster-"))
        self._http: aiohttp.ClientSession | None = None

    @property
    def ws_urls(self) -> list[str]:
        return [node.ws_url for node in self.nodes]

    @property
    def api_urls(self) -> list[str]:
        return [node.api_url for node in self.nodes]

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self._http is not None, "the cluster is not started"
        return self._http

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def start(self) -> None:
        """Start PostgreSQL and Redis, migrate, start every node; return once all are
        ready."""
        self._http = aiohttp.ClientSession()
        self.postgres, self.redis = PostgresProcess(), RedisProcess()
        await asyncio.gather(asyncio.to_thread(self.postgres.start),
                             asyncio.to_thread(self.redis.start))
        self.database_url = await asyncio.to_thread(self.postgres.create_database, "loadtest")
        await migrate(self.database_url)
        log_dir = Path(self.keep) if self.keep else self._dir
        log_dir.mkdir(parents=True, exist_ok=True)
        for index in range(self.size):
            data_dir = self._dir / f"node{index}"
            data_dir.mkdir()
            env = node_env(index, secret=self.secret, api_key=self.api_key, data_dir=data_dir,
                           database_url=self.database_url, redis_url=self.redis.url,
                           settings=self.settings)
            self.nodes.append(NodeProcess(index, env, log_dir / f"node{index}.log", self.http))
        await asyncio.gather(*(node.start() for node in self.nodes))

    async def close(self) -> None:
        """Kill every node, remove Redis and PostgreSQL and the files. Idempotent."""
        await asyncio.gather(*(node.kill() for node in self.nodes), return_exceptions=True)
        if self.redis is not None:
            await asyncio.to_thread(self.redis.stop)
        if self.postgres is not None:
            await asyncio.to_thread(self.postgres.remove)
        if self._http is not None:
            await self._http.close()
            self._http = None
        shutil.rmtree(self._dir, ignore_errors=True)

    async def api(self, method: str, path: str, body: Any = None,
                  node: NodeProcess | None = None) -> Any:
        """Call a node's HTTP API with the key; return the JSON body of a 200 answer."""
        node = node or next(n for n in self.nodes if n.running)
        async with self.http.request(method, f"{node.api_url}{path}", json=body,
                                     headers={"X-API-Key": self.api_key},
                                     timeout=aiohttp.ClientTimeout(total=START)) as response:
            answer = await response.json()
            if response.status != 200:
                raise RuntimeError(f"{method} {path}: {response.status} {answer}")
            return answer

    def flags(self) -> str:
        """The ``python -m loadtest`` flags that point a run at this cluster."""
        urls = " ".join(f"--url {u}" for u in self.ws_urls)
        apis = " ".join(f"--api-url {u}" for u in self.api_urls)
        # "=": a made-up secret or key may begin with "-", which argparse would take for
        # a flag of its own.
        return f"{urls} {apis} --secret={self.secret} --api-key={self.api_key}"


async def _serve(args: argparse.Namespace) -> None:
    async with LocalCluster(args.nodes, keep=args.log_dir) as cluster:
        print(f"PostgreSQL {cluster.database_url}", flush=True)
        print(f"Redis      {cluster.redis.url if cluster.redis else ''}", flush=True)
        for node in cluster.nodes:
            print(f"{node.node_id}      {node.ws_url} {node.api_url} pid {node.pid}", flush=True)
        print(f"flags: {cluster.flags()}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("cluster"), description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--log-dir", help="keep the node logs here")
    args = parser.parse_args(argv)
    import uvloop

    uvloop.run(_serve(args))
    return 0
