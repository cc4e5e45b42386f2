"""The Socket.IO baseline server: its Node.js code, its npm install, its command line.

The server (``loadtest/socketio_node/server.js``) is Socket.IO 4.8 on Node doing what the
raw relay does (see its header). Its npm packages are not shipped: :func:`install` runs
``npm ci`` from the committed ``package.json`` and ``package-lock.json`` into a folder of
the user's cache (``$XDG_CACHE_HOME/realtime-loadtest``, else ``~/.cache/...``), named
after a digest of those files, once per machine; later runs reuse it. Where ``node`` or
``npm`` is missing, or too old, it raises :class:`SocketIOUnavailable` with a message
that says so, and the comparison leaves Socket.IO out.

``python -m loadtest socketio --port P`` installs if needed and serves it on its own.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["MIN_NODE", "SOURCE", "SocketIOUnavailable", "cache_root", "check_tools", "command",
           "install", "main"]

SOURCE = Path(__file__).parent / "socketio_node"
"""The committed files: server.js, package.json, package-lock.json."""
_FILES = ("server.js", "package.json", "package-lock.json")
MIN_NODE = (18, 3)
"""node:util's parseArgs, which server.js uses, came in 18.3."""
_INSTALL_SECONDS = 600
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


def command(folder: Path, host: str, port: int, *,
            heartbeat_ms: tuple[int, int] | None = None) -> list[str]:
    """The command line that serves the installed server on ``host:port``; with
    ``heartbeat_ms``, Engine.IO's ping interval and ping timeout instead of Socket.IO's
    defaults (25 s and 20 s)."""
    argv = [_tool("node"), str(folder / "server.js"), "--host", host, "--port", str(port)]
    if heartbeat_ms is not None:
        argv += ["--ping-interval", str(heartbeat_ms[0]), "--ping-timeout",
                 str(heartbeat_ms[1])]
    return argv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest socketio", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9766)
    args = parser.parse_args(argv)
    try:
        folder = install()
    except SocketIOUnavailable as exc:
        parser.exit(1, f"{exc}\n")
    argv_ = command(folder, args.host, args.port)
    os.execv(argv_[0], argv_)
