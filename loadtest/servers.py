"""Throwaway PostgreSQL and Redis servers that a local cluster runs on, and restarts.

Both run from the binaries installed on the machine, on free ports of 127.0.0.1, in a
directory of their own. Unlike a test fixture's servers, these keep their data across
:meth:`stop` and :meth:`start`, so a fault run can take one away under load and bring
it back as it was: :meth:`remove` is what deletes them.

The methods block (they run ``pg_ctl`` or wait for a PING): call them through
:func:`asyncio.to_thread` from an event loop.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PostgresProcess", "RedisProcess", "ServerError", "free_port"]

STARTUP_DEADLINE = 30.0
"""Seconds a server gets to answer after it was started."""


class ServerError(RuntimeError):
    """A server could not be found, started or reached."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bindir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``; raise :class:`ServerError` if none."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if found.returncode == 0:
            candidates.append(Path(found.stdout.strip()))
    # Debian's pg_config may come from libpq-dev and point at /usr/bin, which holds
    # only the client tools; the server binaries live under a versioned directory.
    versioned = glob.glob("/usr/lib/postgresql/*/bin")
    versioned.sort(key=lambda path: int(Path(path).parent.name), reverse=True)
    candidates.extend(Path(path) for path in versioned)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise ServerError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install the `postgresql` "
        "package (the tests also accept DATABASE_URL naming a server they may use)"
    )


class PostgresProcess:
    """A PostgreSQL cluster in a temporary directory, with ``fsync`` on.

    Runs as the ``postgres`` user when we run as root (``pg_ctl`` refuses root),
    listens on 127.0.0.1 only, with trust authentication.
    """

    def __init__(self, max_connections: int = 300) -> None:
        self.bindir = postgres_bindir()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="loadtest-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.max_connections = max_connections
        self.running = False

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    def start(self) -> None:
        """Create the cluster on first use, start the server, return once it answers."""
        if self.running:
            return
        if not self.data.exists():
            if os.geteuid() == 0:
                shutil.chown(self.root, user="postgres", group="postgres")
            made = self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                             "--encoding=UTF8", "--locale=C", "--no-sync")
            if made.returncode != 0:
                raise ServerError(f"initdb failed:\n{made.stdout}\n{made.stderr}")
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   f"-c fsync=on -c max_connections={self.max_connections}")
        started = self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log),
                            "-o", options, "-w", "-t", str(int(STARTUP_DEADLINE)))
        # Even a start that timed out may have left a server behind: stop() must reach it.
        self.running = True
        if started.returncode != 0:
            raise ServerError(f"PostgreSQL did not start:\n{started.stderr}\n{self.log_tail()}")
        deadline = time.monotonic() + STARTUP_DEADLINE
        probe = [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port),
                 "-U", "postgres"]
        while subprocess.run(probe, check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise ServerError(f"PostgreSQL is not answering:\n{self.log_tail()}")
            time.sleep(0.05)  # a poll interval of the start-up

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (connections are cut, a clean shutdown) or
        ``immediate`` (a crash: recovery runs at the next start). Data is kept."""
        if not self.running:
            return
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w")
        self.running = False

    def restart(self) -> None:
        self.stop()
        self.start()

    def create_database(self, name: str) -> str:
        """Create database ``name``; return its DSN."""
        psql = str(self.bindir / "psql")
        made = subprocess.run([psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                               "-d", "postgres", "-c", f'CREATE DATABASE "{name}"'],
                              capture_output=True, text=True, check=False)
        if made.returncode != 0:
            raise ServerError(f"CREATE DATABASE failed: {made.stderr}")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def remove(self) -> None:
        """Stop the server at once and delete its files. Idempotent."""
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def redis_ping(port: int, timeout: float = 1.0) -> bool:
    """Whether a Redis server answers PING on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisProcess:
    """A ``redis-server`` without persistence on a fixed port: a restart loses every
    key and connection, as a real one would."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServerError("redis-server not found")
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the server; return once it answers PING."""
        if self.running:
            return
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--maxclients", "10000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + STARTUP_DEADLINE
        while not redis_ping(self.port):
            if self.process.poll() is not None:
                self.process = None
                raise ServerError(f"redis-server exited at start (port {self.port})")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"redis-server is not answering on port {self.port}")
            time.sleep(0.01)  # a poll interval of the start-up

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait until it has exited."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()
