"""The Socket.IO baseline server: its Node.js code, its npm install, its command line.

The server (``loadtest/socketio_node/server.js``) is Socket.IO 4.8 on Node doing what the
raw relay does (see its header). Its npm packages are not shipped: :func:`install` runs
``npm ci`` from the committed ``package.json`` and ``package-lock.json`` into a folder of
the user's cache (``$XDG_CACHE_HOME/realtime-loadtest``, else ``~/.cache/...``), named
after a digest of those files, once per machine; later runs reuse it. Where ``node`` or
``npm`` is missing, or too old, it raises :class:`SocketIOUnavailable` with a message
that says so, and the comparison leaves Socket.IO out.

``python -m loadtest socketio --port P [--redis-url URL]`` installs if needed and serves
one server (of a cluster on that Redis); ``--nodes N`` runs N of them on a throwaway
``redis-server`` and prints the flags that point a scenario at them.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from loadtest.help_text import prog
from loadtest.servers import RedisProcess, ServerError, free_port

__all__ = ["MIN_NODE", "SOURCE", "SocketIOUnavailable", "cache_root", "check_tools", "command",
           "install", "main", "serve_cluster"]

SOURCE = Path(__file__).parent / "socketio_node"
"""The committed files: server.js, package.json, package-lock.json."""
_FILES = ("server.js", "package.json", "package-lock.json")
MIN_NODE = (18, 3)
"""node:util's parseArgs, which server.js uses, came in 18.3."""
_INSTALL_SECONDS = 600
_START_SECONDS = 30
_STOP_SECONDS = 30
_MARKER = ".installed"


class SocketIOUnavailable(RuntimeError):
    """Socket.IO cannot run here; the message says why and what to install."""


def cache_root() -> Path:
    """Where installs go: ``$XDG_CACHE_HOME/realtime-loadtest`` or ``~/.cache/...``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "realtime-loadtest"


def check_tools() -> tuple[str, str]:
    """The paths of ``node`` and ``npm``; :class:`SocketIOUnavailable` if either is
    missing or node is older than :data:`MIN_NODE`."""
    node = _tool("node")
    npm = _tool("npm")
    _check_node(node)
    return node, npm


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SocketIOUnavailable(
            f"Socket.IO baseline skipped: `{name}` is not on PATH (install Node.js "
            f"{MIN_NODE[0]}.{MIN_NODE[1]}+ with npm, e.g. `apt-get install nodejs npm`)")
    return path


def _check_node(node: str) -> None:
    found = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    match = re.match(r"v(\d+)\.(\d+)", found.stdout.strip())
    if found.returncode != 0 or match is None:
        raise SocketIOUnavailable(f"Socket.IO baseline skipped: `{node} --version` failed")
    version = (int(match[1]), int(match[2]))
    if version < MIN_NODE:
        raise SocketIOUnavailable(
            f"Socket.IO baseline skipped: Node.js {found.stdout.strip()} is older than "
            f"{MIN_NODE[0]}.{MIN_NODE[1]}")


def _digest() -> str:
    digest = hashlib.sha256()
    for name in _FILES:
        digest.update(name.encode() + b"\0" + (SOURCE / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def install(root: Path | None = None) -> Path:
    """The folder holding server.js and its ``node_modules``, installed with ``npm ci``
    on first use. Raises :class:`SocketIOUnavailable` when node or npm is missing or the
    install fails. Blocking (it may run npm for a while): call it off the event loop."""
    _, npm = check_tools()
    root = root or cache_root()
    target = root / f"socketio-{_digest()}"
    if (target / _MARKER).is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    # Installed beside the target and renamed into place: a concurrent run, or one that
    # was interrupted, never sees a half-installed folder.
    staging = Path(tempfile.mkdtemp(prefix=".socketio-", dir=root))
    try:
        for name in _FILES:
            shutil.copyfile(SOURCE / name, staging / name)
        try:
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                cwd=staging, capture_output=True, text=True, timeout=_INSTALL_SECONDS,
                check=False)
        except subprocess.TimeoutExpired:
            raise SocketIOUnavailable(
                f"Socket.IO baseline skipped: `npm ci` took over {_INSTALL_SECONDS} s") from None
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-10:])
            raise SocketIOUnavailable(
                f"Socket.IO baseline skipped: `npm ci` failed in {staging}:\n{tail}")
        (staging / _MARKER).write_text("npm ci\n")
        if target.exists() and not (target / _MARKER).is_file():
            shutil.rmtree(target, ignore_errors=True)  # left by an older, broken install
        try:
            staging.rename(target)
        except OSError:
            if not (target / _MARKER).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def command(folder: Path, host: str, port: int, *, redis_url: str | None = None,
            heartbeat_ms: tuple[int, int] | None = None) -> list[str]:
    """The command line that serves the installed server on ``host:port``; with
    ``redis_url``, one server of a cluster on that Redis (Socket.IO's Redis adapter); with
    ``heartbeat_ms``, Engine.IO's ping interval and ping timeout instead of Socket.IO's
    defaults (25 s and 20 s)."""
    argv = [_tool("node"), str(folder / "server.js"), "--host", host, "--port", str(port)]
    if redis_url is not None:
        argv += ["--redis", redis_url]
    if heartbeat_ms is not None:
        argv += ["--ping-interval", str(heartbeat_ms[0]), "--ping-timeout",
                 str(heartbeat_ms[1])]
    return argv


def _wait_serving(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + _START_SECONDS
    while True:
        if process.poll() is not None:
            raise SocketIOUnavailable(f"the Socket.IO server on port {port} exited with "
                                      f"{process.returncode}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2):
                return
        if time.monotonic() > deadline:
            raise SocketIOUnavailable(f"the Socket.IO server on port {port} is not answering")
        time.sleep(0.1)  # a poll interval of the start-up


def serve_cluster(folder: Path, nodes: int, host: str) -> None:
    """Run ``nodes`` servers on a throwaway Redis until SIGINT or SIGTERM; print the flags
    that point a scenario at them (with several ``--url``, the two sides of every DM pair
    are on different servers, so every DM crosses Redis)."""
    signals = {signal.SIGINT, signal.SIGTERM}
    redis = RedisProcess()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        redis.start()
        ports = [free_port() for _ in range(nodes)]
        for port in ports:
            processes.append(subprocess.Popen(command(folder, host, port, redis_url=redis.url)))
        for process, port in zip(processes, ports, strict=True):
            _wait_serving(process, port)
        flags = " ".join([f"--url ws://{host}:{p}/socket.io/" for p in ports]
                         + [f"--api-url http://{host}:{p}" for p in ports])
        # Blocked only now: the children inherit the mask, and a server that cannot get
        # SIGTERM cannot be stopped.
        signal.pthread_sigmask(signal.SIG_BLOCK, signals)
        print(f"Socket.IO cluster of {nodes} on {redis.url}; Ctrl-C stops it.\n"
              f"python -m loadtest dm --target socketio {flags} ...", flush=True)
        signal.sigwait(signals)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        redis.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("socketio"), description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9766)
    parser.add_argument("--redis-url", help="join the cluster on this Redis (Socket.IO's "
                                            "Redis adapter)")
    parser.add_argument("--nodes", type=int, default=1,
                        help="with 2 or more: that many servers on free ports and a "
                             "throwaway redis-server, until Ctrl-C")
    args = parser.parse_args(argv)
    if args.nodes < 1:
        parser.error("--nodes must be at least 1")
    try:
        folder = install()
        if args.nodes > 1:
            serve_cluster(folder, args.nodes, args.host)
            return 0
    except (SocketIOUnavailable, ServerError) as exc:
        parser.exit(1, f"{exc}\n")
    argv_ = command(folder, args.host, args.port, redis_url=args.redis_url)
    os.execv(argv_[0], argv_)
